// ip-split: renders a deterministic synthetic image (gradients and shapes
// drawn from a seed) and cuts it into horizontal strips, each encoded as
// an uncompressed PNG in base64: the result is several MB.
//
//	wsk action create ip-split split.go --kind go:1.26
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
)

// Limits keep a bad input from exhausting the container's memory.
const (
	maxSide   = 8192
	maxChunks = 64
)

// Main renders the image and returns its strips.
func Main(args map[string]interface{}) map[string]interface{} {
	w, h := intArg(args, "width", 1600), intArg(args, "height", 1200)
	chunks, seed := intArg(args, "chunks", 6), intArg(args, "seed", 7)
	if w < 1 || h < 1 || w > maxSide || h > maxSide {
		return fail("width %d and height %d must lie in [1, %d]", w, h, maxSide)
	}
	if chunks < 1 || chunks > maxChunks || chunks > h {
		return fail("chunks %d must lie in [1, %d] and not exceed the height %d", chunks, maxChunks, h)
	}
	img := render(w, h, uint64(seed))
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	out := make([]interface{}, 0, chunks)
	for i := 0; i < chunks; i++ {
		y0, y1 := i*h/chunks, (i+1)*h/chunks
		strip := image.NewRGBA(image.Rect(0, 0, w, y1-y0))
		draw.Draw(strip, strip.Bounds(), img, image.Pt(0, y0), draw.Src)
		var buf bytes.Buffer
		if err := enc.Encode(&buf, strip); err != nil {
			return fail("encoding strip %d: %v", i, err)
		}
		out = append(out, map[string]interface{}{"index": i, "y": y0, "png": base64.StdEncoding.EncodeToString(buf.Bytes())})
	}
	return map[string]interface{}{"chunks": out, "width": w, "height": h}
}

// render draws a diagonal gradient, then rectangles and discs whose
// places, sizes and colours come from the seed.
func render(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(255 * x / w), uint8(255 * y / h), uint8(255 * (x + y) / (w + h)), 255})
		}
	}
	r := rng{seed*0x9E3779B97F4A7C15 + 1}
	for i := 0; i < 24; i++ {
		c := color.RGBA{uint8(r.next()), uint8(r.next()), uint8(r.next()), 255}
		x0, y0 := r.intn(w), r.intn(h)
		if i%2 == 0 {
			rect := image.Rect(x0, y0, x0+1+r.intn(w/4+1), y0+1+r.intn(h/4+1))
			draw.Draw(img, rect, &image.Uniform{c}, image.Point{}, draw.Src)
			continue
		}
		rad := 1 + r.intn(min(w, h)/6+1)
		for y := max(0, y0-rad); y < min(h, y0+rad); y++ {
			for x := max(0, x0-rad); x < min(w, x0+rad); x++ {
				if (x-x0)*(x-x0)+(y-y0)*(y-y0) <= rad*rad {
					img.SetRGBA(x, y, c)
				}
			}
		}
	}
	return img
}

// rng is a xorshift64* generator: the same seed draws the same image.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func intArg(args map[string]interface{}, name string, def int) int {
	if v, ok := args[name].(float64); ok {
		return int(v)
	}
	return def
}

func fail(format string, a ...interface{}) map[string]interface{} {
	return map[string]interface{}{"error": "ip-split: " + fmt.Sprintf(format, a...)}
}
