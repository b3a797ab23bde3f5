package gan_test

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"math"
	"testing"

	"github.com/ganhost/ganhost/go/gan"
)

// filled returns n images with every value v.
func filled(n int, v float32) []float32 {
	images := make([]float32, n*gan.ImagePixels)
	for i := range images {
		images[i] = v
	}
	return images
}

// MustGrid calls gan.Grid and fails the test on error.
func MustGrid(tb testing.TB, images []float32, n, scale int) *image.Gray {
	tb.Helper()
	img, err := gan.Grid(images, n, scale)
	if err != nil {
		tb.Fatalf("got %v, want no error", err)
	}
	return img
}

func TestGridSize(t *testing.T) {
	tests := []struct {
		name         string
		n, scale     int
		wantW, wantH int
	}{
		{name: "ok, one image", n: 1, scale: 1, wantW: 28, wantH: 28},
		{name: "ok, two images side by side", n: 2, scale: 1, wantW: 56, wantH: 28},
		{name: "ok, three images in 2x2", n: 3, scale: 1, wantW: 56, wantH: 56},
		{name: "ok, perfect square 16", n: 16, scale: 1, wantW: 112, wantH: 112},
		{name: "ok, 17 in 5 cols x 4 rows", n: 17, scale: 1, wantW: 140, wantH: 112},
		{name: "ok, perfect square 49", n: 49, scale: 1, wantW: 196, wantH: 196},
		{name: "ok, 256 images", n: 256, scale: 1, wantW: 448, wantH: 448},
		{name: "ok, two images scaled by 2", n: 2, scale: 2, wantW: 112, wantH: 56},
		{name: "ok, one image scaled by 8", n: 1, scale: 8, wantW: 224, wantH: 224},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := MustGrid(t, filled(tt.n, 0), tt.n, tt.scale).Bounds()
			if b.Min != (image.Point{}) || b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("got bounds %v, want (0,0)-(%d,%d)", b, tt.wantW, tt.wantH)
			}
		})
	}
}

func TestGridPlacement(t *testing.T) {
	// Five images make 3 columns and 2 rows. Image k is filled with gray
	// 40*(k+1) and has one white pixel at (3,5), so both the cell and the
	// position inside it are checked.
	const n, cols = 5, 3
	images := make([]float32, n*gan.ImagePixels)
	for k := range n {
		for j := range gan.ImagePixels {
			images[k*gan.ImagePixels+j] = float32(40*(k+1))/127.5 - 1
		}
		images[k*gan.ImagePixels+5*gan.ImageSize+3] = 1
	}
	img := MustGrid(t, images, n, 1)
	tests := []struct {
		name string
		x, y int
		want uint8
	}{
		{name: "ok, image 0 at top left", x: 0, y: 0, want: 40},
		{name: "ok, image 0 white pixel", x: 3, y: 5, want: 255},
		{name: "ok, image 1 at top middle", x: 28, y: 0, want: 80},
		{name: "ok, image 2 at top right, last pixel", x: 83, y: 27, want: 120},
		{name: "ok, image 2 white pixel", x: 56 + 3, y: 5, want: 255},
		{name: "ok, image 3 at bottom left", x: 0, y: 28, want: 160},
		{name: "ok, image 4 at bottom middle", x: 28 + 27, y: 28 + 27, want: 200},
		{name: "ok, image 4 white pixel", x: 28 + 3, y: 28 + 5, want: 255},
		{name: "ok, unused cell is black", x: 56, y: 28, want: 0},
		{name: "ok, unused cell last pixel is black", x: 83, y: 55, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := img.GrayAt(tt.x, tt.y).Y; got != tt.want {
				t.Errorf("got %v at (%d,%d), want %v", got, tt.x, tt.y, tt.want)
			}
		})
	}
}

func TestGridScale(t *testing.T) {
	tests := []struct {
		name  string
		scale int
	}{
		{name: "ok, scale 1", scale: 1},
		{name: "ok, scale 3", scale: 3},
		{name: "ok, scale 8", scale: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One white pixel at (2,1) must become a scale x scale block.
			images := filled(1, -1)
			images[1*gan.ImageSize+2] = 1
			img := MustGrid(t, images, 1, tt.scale)
			for y := range img.Bounds().Dy() {
				for x := range img.Bounds().Dx() {
					want := uint8(0)
					if x/tt.scale == 2 && y/tt.scale == 1 {
						want = 255
					}
					if got := img.GrayAt(x, y).Y; got != want {
						t.Fatalf("got %v at (%d,%d), want %v", got, x, y, want)
					}
				}
			}
		})
	}
}

func TestGridValues(t *testing.T) {
	tests := []struct {
		name string
		v    float32
		want uint8
	}{
		{name: "ok, -1 is black", v: -1, want: 0},
		{name: "ok, 1 is white", v: 1, want: 255},
		{name: "ok, 0 rounds 127.5 up", v: 0, want: 128},
		{name: "ok, 0.5 rounds 191.25 down", v: 0.5, want: 191},
		{name: "ok, just above -1 rounds to black", v: -0.999, want: 0},
		{name: "ok, below -1 clamps to black", v: -2, want: 0},
		{name: "ok, above 1 clamps to white", v: 2, want: 255},
		{name: "ok, +Inf clamps to white", v: float32(math.Inf(1)), want: 255},
		{name: "ok, -Inf clamps to black", v: float32(math.Inf(-1)), want: 0},
		{name: "ok, NaN is black", v: float32(math.NaN()), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := MustGrid(t, filled(1, tt.v), 1, 1)
			for i, got := range img.Pix {
				if got != tt.want {
					t.Fatalf("got %v at pixel %d, want %v", got, i, tt.want)
				}
			}
		})
	}
}

func TestGridErrors(t *testing.T) {
	tests := []struct {
		name     string
		images   []float32
		n, scale int
	}{
		{name: "nok, zero images", images: nil, n: 0, scale: 1},
		{name: "nok, negative n", images: filled(1, 0), n: -1, scale: 1},
		{name: "nok, too few values", images: filled(1, 0), n: 2, scale: 1},
		{name: "nok, too many values", images: filled(3, 0), n: 2, scale: 1},
		{name: "nok, not whole images", images: filled(1, 0)[:100], n: 1, scale: 1},
		{name: "nok, n whose value count overflows", images: filled(1, 0), n: math.MaxInt/gan.ImagePixels + 1, scale: 1},
		{name: "nok, scale 0", images: filled(1, 0), n: 1, scale: 0},
		{name: "nok, scale 9", images: filled(1, 0), n: 1, scale: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := gan.Grid(tt.images, tt.n, tt.scale)
			if got := gan.ErrorCode(err); got != gan.EINVALID || img != nil {
				t.Errorf("got image %v and error %v (code %q), want no image and code %q", img != nil, err, got, gan.EINVALID)
			}
		})
	}
}

func TestTile(t *testing.T) {
	// Three images, image k filled with gray 50*(k+1).
	images := make([]float32, 3*gan.ImagePixels)
	for i := range images {
		images[i] = float32(50*(i/gan.ImagePixels+1))/127.5 - 1
	}
	tests := []struct {
		name     string
		images   []float32
		i, scale int
		wantSide int
		wantGray uint8
		wantErr  bool
	}{
		{name: "ok, first", images: images, i: 0, scale: 1, wantSide: 28, wantGray: 50},
		{name: "ok, last", images: images, i: 2, scale: 1, wantSide: 28, wantGray: 150},
		{name: "ok, scaled", images: images, i: 1, scale: 2, wantSide: 56, wantGray: 100},
		{name: "nok, past the end", images: images, i: 3, scale: 1, wantErr: true},
		{name: "nok, negative", images: images, i: -1, scale: 1, wantErr: true},
		{name: "nok, not whole images", images: images[:100], i: 0, scale: 1, wantErr: true},
		{name: "nok, bad scale", images: images, i: 0, scale: 0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := gan.Tile(tt.images, tt.i, tt.scale)
			if tt.wantErr {
				if got := gan.ErrorCode(err); got != gan.EINVALID {
					t.Fatalf("got code %q (%v), want %q", got, err, gan.EINVALID)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if b := img.Bounds(); b.Dx() != tt.wantSide || b.Dy() != tt.wantSide {
				t.Errorf("got bounds %v, want %dx%d", b, tt.wantSide, tt.wantSide)
			}
			for i, got := range img.Pix {
				if got != tt.wantGray {
					t.Fatalf("got %v at pixel %d, want %v", got, i, tt.wantGray)
				}
			}
		})
	}
}

func TestEncodePNG(t *testing.T) {
	// Varied content, so compression has work to do.
	wavy := make([]float32, 17*gan.ImagePixels)
	for i := range wavy {
		wavy[i] = float32(math.Sin(float64(i)))
	}
	tests := []struct {
		name     string
		images   []float32
		n, scale int
	}{
		{name: "ok, one black tile", images: filled(1, -1), n: 1, scale: 1},
		{name: "ok, one varied tile", images: wavy[:gan.ImagePixels], n: 1, scale: 1},
		{name: "ok, 17 varied tiles scaled by 2", images: wavy, n: 17, scale: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encode := func() []byte {
				var b bytes.Buffer
				if err := gan.EncodePNG(&b, MustGrid(t, tt.images, tt.n, tt.scale)); err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return b.Bytes()
			}
			a, b := encode(), encode()
			if !bytes.Equal(a, b) {
				t.Fatalf("got differing bytes (%d and %d long), want identical output", len(a), len(b))
			}
			dec, err := png.Decode(bytes.NewReader(a))
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			gray, ok := dec.(*image.Gray)
			if !ok {
				t.Fatalf("got %T, want *image.Gray", dec)
			}
			if want := MustGrid(t, tt.images, tt.n, tt.scale); gray.Rect != want.Rect || !bytes.Equal(gray.Pix, want.Pix) {
				t.Errorf("got decoded image %v that differs, want the grid %v back", gray.Rect, want.Rect)
			}
		})
	}
}

func TestEncodePNGGrayFastPathDecodes(t *testing.T) {
	// An odd-sized, non-zero-origin sub-image exercises PixOffset and the row stride.
	full := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range full.Pix {
		full.Pix[i] = uint8(i * 31)
	}
	sub := full.SubImage(image.Rect(3, 5, 36, 22)).(*image.Gray)
	var buf bytes.Buffer
	if err := gan.EncodePNG(&buf, sub); err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.Bounds().Dx() != 33 || got.Bounds().Dy() != 17 {
		t.Fatalf("size=%v, want 33x17", got.Bounds())
	}
	for y := 0; y < 17; y++ {
		for x := 0; x < 33; x++ {
			if g, w := got.(*image.Gray).GrayAt(x, y).Y, sub.GrayAt(x+3, y+5).Y; g != w {
				t.Fatalf("pixel (%d,%d)=%d, want %d", x, y, g, w)
			}
		}
	}
}

func BenchmarkEncodePNG448(b *testing.B) {
	images := make([]float32, 256*gan.ImagePixels)
	for i := range images {
		images[i] = float32(math.Sin(float64(i)*0.01)*0.5) - 0.3
	}
	grid, _ := gan.Grid(images, 256, 1)
	for b.Loop() {
		if err := gan.EncodePNG(io.Discard, grid); err != nil {
			b.Fatal(err)
		}
	}
}

// grayValue's add-and-truncate rounding must match math.Round on the floats in [-1, 1]: every
// 61st bit pattern of each sign (about 35 million values), and every rounding boundary k+0.5
// with its neighbours.
func TestGrayValueRoundsLikeMathRound(t *testing.T) {
	var values []float32
	for _, sign := range []uint32{0, 1 << 31} {
		for bits := uint32(0); bits <= math.Float32bits(1); bits += 61 {
			values = append(values, math.Float32frombits(sign|bits))
		}
	}
	for k := range 256 {
		v := float32((float64(k)+0.5)/127.5 - 1)
		values = append(values, v, math.Nextafter32(v, 2), math.Nextafter32(v, -2))
	}
	for len(values)%gan.ImagePixels != 0 {
		values = append(values, 0)
	}
	img := MustGrid(t, values, len(values)/gan.ImagePixels, 1)
	cols := img.Rect.Dx() / gan.ImageSize
	for i, v := range values {
		k, p := i/gan.ImagePixels, i%gan.ImagePixels
		x, y := (k%cols)*gan.ImageSize+p%gan.ImageSize, (k/cols)*gan.ImageSize+p/gan.ImageSize
		want := uint8(math.Round(min(max((float64(v)+1)*127.5, 0), 255)))
		if got := img.GrayAt(x, y).Y; got != want {
			t.Fatalf("v=%v: got %d, want %d", v, got, want)
		}
	}
}

func BenchmarkGrid256(b *testing.B) {
	images := make([]float32, 256*gan.ImagePixels)
	for i := range images {
		images[i] = float32(math.Sin(float64(i)*0.01)*0.5) - 0.3
	}
	for b.Loop() {
		if _, err := gan.Grid(images, 256, 1); err != nil {
			b.Fatal(err)
		}
	}
}
