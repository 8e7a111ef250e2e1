// sn-media: validates the post's media: at most four entries, each an
// image (up to 10 MB) or a video (up to 512 MB) with a positive size. A
// bad entry fails the step with {"error": ...}, which fails the workflow.
// It passes the post id through.
//
//	wsk action create sn-media media.go --kind go:1.26
package main

import "fmt"

const maxMedia = 4

// limits are the largest sizes, in bytes, by media type.
var limits = map[string]float64{"image": 10 << 20, "video": 512 << 20}

// Main returns {"post_id", "count", "total_bytes", "by_type"}.
func Main(args map[string]interface{}) map[string]interface{} {
	post, _ := args["post"].(map[string]interface{})
	media, _ := post["media"].([]interface{})
	fail := func(format string, a ...interface{}) map[string]interface{} {
		return map[string]interface{}{"error": "sn-media: " + fmt.Sprintf(format, a...)}
	}
	if len(media) > maxMedia {
		return fail("%d media entries, at most %d allowed", len(media), maxMedia)
	}
	total := 0.0
	byType := map[string]interface{}{}
	for i, m := range media {
		e, _ := m.(map[string]interface{})
		typ, _ := e["type"].(string)
		size, _ := e["bytes"].(float64)
		limit, ok := limits[typ]
		switch {
		case !ok:
			return fail("media[%d]: type %q is not image or video", i, typ)
		case size <= 0:
			return fail("media[%d]: a %s needs a positive size in bytes", i, typ)
		case size > limit:
			return fail("media[%d]: a %s of %.0f bytes is over the %.0f byte limit", i, typ, size, limit)
		}
		total += size
		n, _ := byType[typ].(int)
		byType[typ] = n + 1
	}
	fmt.Printf("media: %d entries, %.0f bytes\n", len(media), total)
	return map[string]interface{}{"post_id": args["post_id"], "count": len(media), "total_bytes": total, "by_type": byType}
}
