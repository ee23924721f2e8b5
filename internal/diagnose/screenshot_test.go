package diagnose

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestHTMLScreenshot renders the HTML report of the SNAT scenario in
// headless Chromium and checks that the charts are visible: the PNG holds
// the red of failed requests and the blue of successful ones. It runs only
// where chromium is installed (apt-get install chromium); set
// DIAGNOSE_SCREENSHOT=path.png to keep the picture.
func TestHTMLScreenshot(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if bin, err = exec.LookPath("chromium-browser"); err != nil {
			t.Skip("chromium not installed")
		}
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	r := analyzeBytes(t, jsonl(t, generate(t, "snat-exhaustion")))
	if err := WriteHTML(f, r); err != nil {
		t.Fatal(err)
	}
	f.Close()
	shot := filepath.Join(dir, "report.png")
	if keep := os.Getenv("DIAGNOSE_SCREENSHOT"); keep != "" {
		shot, _ = filepath.Abs(keep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, "--window-size=1200,1600", "file://"+page)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	pf, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	var red, blue int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			switch {
			case r > 200 && g < 80 && bl < 80: // #d93a3a failed bars
				red++
			case r > 140 && r < 175 && g > 180 && g < 215 && bl > 215: // #9ec5e8 ok bars
				blue++
			}
		}
	}
	if red < 2000 || blue < 2000 {
		t.Errorf("screenshot shows %d red and %d blue pixels: charts not visible", red, blue)
	}
	t.Logf("screenshot %s: %d red, %d blue chart pixels", shot, red, blue)
}
