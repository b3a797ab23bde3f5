package gan

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"sync"
)

// MaxScale bounds the upscaling factor of Grid and Tile; beyond it a large
// grid becomes a multi-megabyte image for no visual gain.
const MaxScale = 8

// Grid lays out n images (n*ImagePixels values in [-1,1], row-major
// [n,28,28,1], as the generator returns them) as one grayscale picture of
// ceil(sqrt(n)) columns and ceil(n/cols) rows, without padding, each pixel
// repeated scale times in both directions. Cells past the n-th stay black.
// Values map to round((v+1)*127.5), clamped to 0..255; NaN becomes 0, so a
// diverged generator yields a black image instead of a panic.
func Grid(images []float32, n, scale int) (*image.Gray, error) {
	if n < 1 {
		return nil, Errorf(EINVALID, "grid of %d images, want at least 1", n)
	}
	// Compare by division first: n*ImagePixels can overflow for a huge n.
	if n > len(images)/ImagePixels || len(images) != n*ImagePixels {
		return nil, Errorf(EINVALID, "grid of %d images needs %d values, got %d", n, n*ImagePixels, len(images))
	}
	if scale < 1 || scale > MaxScale {
		return nil, Errorf(EINVALID, "scale %d, want 1..%d", scale, MaxScale)
	}
	// Integer ceil(sqrt(n)): math.Sqrt can land just above a perfect square
	// and add a column.
	cols := 1
	for cols*cols < n {
		cols++
	}
	rows := (n + cols - 1) / cols
	side := ImageSize * scale
	img := image.NewGray(image.Rect(0, 0, cols*side, rows*side))
	for k := range n {
		x0, y0 := (k%cols)*side, (k/cols)*side
		src := images[k*ImagePixels : (k+1)*ImagePixels]
		for y := range ImageSize {
			top := (y0+y*scale)*img.Stride + x0
			row := img.Pix[top : top+side]
			line := src[y*ImageSize : (y+1)*ImageSize]
			if scale == 1 {
				for x, v := range line {
					row[x] = grayValue(v)
				}
				continue
			}
			for x, v := range line {
				p := grayValue(v)
				for dx := range scale {
					row[x*scale+dx] = p
				}
			}
			for dy := 1; dy < scale; dy++ {
				copy(img.Pix[top+dy*img.Stride:top+dy*img.Stride+side], row)
			}
		}
	}
	return img, nil
}

// Tile returns image i of images (laid out as for Grid) on its own, for
// per-image downloads.
func Tile(images []float32, i, scale int) (*image.Gray, error) {
	if len(images)%ImagePixels != 0 {
		return nil, Errorf(EINVALID, "%d values is not a whole number of %d-pixel images", len(images), ImagePixels)
	}
	if n := len(images) / ImagePixels; i < 0 || i >= n {
		return nil, Errorf(EINVALID, "image %d out of range 0..%d", i, n-1)
	}
	return Grid(images[i*ImagePixels:(i+1)*ImagePixels], 1, scale)
}

// grayValue maps a generator output in [-1,1] to a byte, rounding half up. (v+1)*127.5 is exact
// in float64 for any float32 v, so adding 0.5 and truncating rounds exactly like math.Round,
// at a fraction of its cost (it ran for every pixel and showed in profiles).
func grayValue(v float32) uint8 {
	x := (float64(v) + 1) * 127.5
	switch {
	case !(x > 0): // also NaN
		return 0
	case x >= 255:
		return 255
	}
	return uint8(x + 0.5)
}

// EncodePNG writes img as PNG; the same image always gives the same bytes (cacheable,
// comparable in tests). Grayscale images, which is what Grid and Tile make, take a fast path:
// image/png tries five row filters and deflates at a real compression level, which profiles
// showed as a fifth of the host's CPU under load; MNIST-like images compress about as well
// with no filter and Huffman-only coding, at a quarter of the cost.
func EncodePNG(w io.Writer, img image.Image) error {
	if g, ok := img.(*image.Gray); ok {
		return encodeGrayPNG(w, g)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, img)
}

// pngBuffers recycles the compressor (about 1 MB of state that the runtime clears on every
// allocation) and the compressed-data buffer between encodings: under load both showed in
// profiles as memory clearing and GC work.
var pngBuffers = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.HuffmanOnly) // only fails for an invalid level
	return &pngBuffer{zw: zw}
}}

type pngBuffer struct {
	zw   *zlib.Writer
	idat bytes.Buffer
}

func encodeGrayPNG(w io.Writer, img *image.Gray) error {
	b := img.Bounds()
	buf := pngBuffers.Get().(*pngBuffer)
	defer pngBuffers.Put(buf)
	buf.idat.Reset()
	idat, zw := &buf.idat, buf.zw
	zw.Reset(idat)
	row := make([]byte, 1+b.Dx()) // filter type 0 (none), then the row's pixels
	for y := b.Min.Y; y < b.Max.Y; y++ {
		i := img.PixOffset(b.Min.X, y)
		copy(row[1:], img.Pix[i:i+b.Dx()])
		if _, err := zw.Write(row); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(b.Dx()))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(b.Dy()))
	ihdr[8] = 8 // bit depth; colour type 0 (grayscale), default compression/filter, no interlace
	bw := bufio.NewWriter(w)
	bw.WriteString("\x89PNG\r\n\x1a\n")
	writePNGChunk(bw, "IHDR", ihdr[:])
	writePNGChunk(bw, "IDAT", idat.Bytes())
	writePNGChunk(bw, "IEND", nil)
	return bw.Flush()
}

func writePNGChunk(w *bufio.Writer, kind string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	w.WriteString(kind)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
