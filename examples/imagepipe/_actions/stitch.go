// ip-stitch: takes the filtered strips (the map's results, in element
// order), draws each into one grayscale image at its y, and returns the
// image's size, the SHA-256 of its pixels (row by row, one byte a pixel)
// and the mean luminance over all strips, weighted by their pixel counts,
// with the sizes of the strips it and ip-filter received.
//
//	wsk action create ip-stitch stitch.go --kind go:1.26
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image"
	"image/draw"
	"image/png"
)

// Main stitches the strips.
func Main(args map[string]interface{}) map[string]interface{} {
	// The input is an array, which a Go Main can only see wrapped in an
	// object: {"value": [...]}, as openwhisk-composer hands arrays on.
	strips, ok := args["value"].([]interface{})
	if !ok || len(strips) == 0 {
		return fail("want a non-empty array of strips {index, y, png, mean} (in args[\"value\"]), got an object with keys %v", keys(args))
	}
	type part struct {
		img  image.Image
		y    int
		mean float64
	}
	parts := make([]part, 0, len(strips))
	width, height, split, filtered := 0, 0, 0.0, 0
	for i, s := range strips {
		m, _ := s.(map[string]interface{})
		index, okI := m["index"].(float64)
		y, okY := m["y"].(float64)
		mean, okM := m["mean"].(float64)
		data, okP := m["png"].(string)
		if !okI || !okY || !okM || !okP {
			return fail("strip %d: want {index, y, png, mean}", i)
		}
		in, _ := m["in_bytes"].(float64)
		split += in
		filtered += len(data)
		if int(index) != i {
			return fail("strip %d has index %v: the strips are out of order", i, index)
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return fail("strip %d: png is not base64: %v", i, err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			return fail("strip %d: decoding the PNG: %v", i, err)
		}
		b := img.Bounds()
		if i == 0 {
			width = b.Dx()
		} else if b.Dx() != width {
			return fail("strip %d is %d wide, strip 0 is %d", i, b.Dx(), width)
		}
		if int(y) != height {
			return fail("strip %d starts at y %v, want %d (the strips must tile the image)", i, y, height)
		}
		height += b.Dy()
		parts = append(parts, part{img, int(y), mean})
	}
	out := image.NewGray(image.Rect(0, 0, width, height))
	sum := 0.0
	for _, p := range parts {
		b := p.img.Bounds()
		draw.Draw(out, image.Rect(0, p.y, width, p.y+b.Dy()), p.img, b.Min, draw.Src)
		sum += p.mean * float64(b.Dx()*b.Dy())
	}
	h := sha256.Sum256(out.Pix)
	return map[string]interface{}{
		"width": width, "height": height, "strips": len(parts),
		"sha256": hex.EncodeToString(h[:]),
		"mean":   sum / float64(width*height),
		// The payload sizes: the strips ip-split sent and ip-filter got,
		// and the filtered strips this step got (base64 bytes).
		"split_bytes": split, "filtered_bytes": filtered,
	}
}

func keys(m map[string]interface{}) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func fail(format string, a ...interface{}) map[string]interface{} {
	return map[string]interface{}{"error": "ip-stitch: " + fmt.Sprintf(format, a...)}
}
