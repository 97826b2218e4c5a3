package loadgen

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// progressWidth is the number of cells of the bar.
const progressWidth = 30

// progress draws the progress bar until ctx ends, then draws it a last
// time and ends the line.
func (g *gen) progress(ctx context.Context, start time.Time, planned *atomic.Int64) {
	every := 5 * time.Second
	if g.cfg.ProgressTTY {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.drawProgress(time.Since(start), planned.Load())
			fmt.Fprintln(g.cfg.Progress)
			return
		case <-t.C:
			g.drawProgress(time.Since(start), planned.Load())
			if !g.cfg.ProgressTTY {
				fmt.Fprintln(g.cfg.Progress)
			}
		}
	}
}

func (g *gen) drawProgress(elapsed time.Duration, planned int64) {
	frac := min(1, float64(elapsed)/float64(g.cfg.Duration))
	cells := int(frac * progressWidth)
	bar := strings.Repeat("=", cells)
	if cells < progressWidth {
		bar += ">" + strings.Repeat(" ", progressWidth-cells-1)
	}
	prefix := ""
	if g.cfg.ProgressTTY {
		prefix = "\r\033[K"
	}
	fmt.Fprintf(g.cfg.Progress, "%s[%s] %5.1fs/%s  planned %d  done %d  failed %d  in flight %d",
		prefix, bar, min(elapsed, g.cfg.Duration).Seconds(), g.cfg.Duration,
		planned, g.finished.Load(), g.failed.Load(), g.inFlight.Load())
}

// note prints a line above the progress bar.
func (g *gen) note(format string, args ...any) {
	prefix := ""
	if g.cfg.ProgressTTY {
		prefix = "\r\033[K"
	}
	fmt.Fprintf(g.cfg.Progress, prefix+format+"\n", args...)
}
