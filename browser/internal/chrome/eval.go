package chrome

import (
	"context"
	"time"

	"github.com/chromedp/chromedp"
)

// Eval evaluates a JavaScript expression in the current page and returns
// its value as a string, waiting up to timeout. It is for what a page has
// to say when Run gave up on it: a page whose program hangs can still
// show the output it has produced so far, since a Go program blocked in
// the browser leaves the event loop free.
func (b *Browser) Eval(expr string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string]("String("+expr+")"))
}
