// ip-filter: decodes one strip, converts it to grayscale, runs a Sobel
// edge detector over it (the strip's border pixels are clamped), and
// returns the edges as an uncompressed grayscale PNG in base64 with the
// strip's mean luminance (of the grayscale image, 0-255) and the size of
// the base64 strip it received (in_bytes).
//
//	wsk action create ip-filter filter.go --kind go:1.26
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Main filters one strip.
func Main(args map[string]interface{}) map[string]interface{} {
	index, okI := args["index"].(float64)
	y, okY := args["y"].(float64)
	data, okP := args["png"].(string)
	if !okI || !okY || !okP {
		return fail("want {index, y, png}, got keys %v", keys(args))
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return fail("strip %v: png is not base64: %v", index, err)
	}
	src, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return fail("strip %v: decoding the PNG: %v", index, err)
	}
	b := src.Bounds()
	gray := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	sum := 0.0
	for yy := 0; yy < b.Dy(); yy++ {
		for xx := 0; xx < b.Dx(); xx++ {
			g := color.GrayModel.Convert(src.At(b.Min.X+xx, b.Min.Y+yy)).(color.Gray)
			gray.SetGray(xx, yy, g)
			sum += float64(g.Y)
		}
	}
	edges := sobel(gray)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, edges); err != nil {
		return fail("strip %v: encoding the PNG: %v", index, err)
	}
	return map[string]interface{}{
		"index": index, "y": y,
		"png":  base64.StdEncoding.EncodeToString(buf.Bytes()),
		"mean": sum / float64(b.Dx()*b.Dy()),
		// in_bytes is the size of the strip this step received (base64).
		"in_bytes": len(data),
	}
}

// sobel returns the gradient magnitude of g, clamped to 255.
func sobel(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	at := func(x, y int) float64 {
		x, y = max(0, min(w-1, x)), max(0, min(h-1, y))
		return float64(g.Pix[y*g.Stride+x])
	}
	out := image.NewGray(g.Rect)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			gx := at(x+1, y-1) + 2*at(x+1, y) + at(x+1, y+1) - at(x-1, y-1) - 2*at(x-1, y) - at(x-1, y+1)
			gy := at(x-1, y+1) + 2*at(x, y+1) + at(x+1, y+1) - at(x-1, y-1) - 2*at(x, y-1) - at(x+1, y-1)
			out.Pix[y*out.Stride+x] = uint8(math.Min(255, math.Hypot(gx, gy)))
		}
	}
	return out
}

func keys(m map[string]interface{}) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func fail(format string, a ...interface{}) map[string]interface{} {
	return map[string]interface{}{"error": "ip-filter: " + fmt.Sprintf(format, a...)}
}
