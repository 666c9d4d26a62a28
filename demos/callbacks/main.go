//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/callbacks/render"
	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

const cookie = "plexus-demo-callbacks"

func main() { demoutil.Main(pluginConfig, run) } // serves when started by the host in run

// invoice is the template the host asks the plugin to render.
const invoice = `Invoice for {{value "customer"}}
{{range list "items"}}  - {{.}}
{{end}}Total: {{value "total"}}`

// hostValues is the host's side: the data the plugin asks for. It
// prints each callback as it serves it.
type hostValues struct {
	mu     sync.Mutex
	out    io.Writer
	served int
	data   map[string]string
	lists  map[string][]string
}

func (h *hostValues) Value(_ context.Context, key string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.data[key]
	if !ok {
		fmt.Fprintf(h.out, "  host <- plugin: Value(%q) -> NOT_FOUND\n", key)
		return "", plexus.Errorf(plexus.NotFound, "no value %q", key)
	}
	h.served++
	fmt.Fprintf(h.out, "  host <- plugin: Value(%q) -> %q\n", key, v)
	return v, nil
}

func (h *hostValues) List(_ context.Context, key string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.lists[key]
	if !ok {
		fmt.Fprintf(h.out, "  host <- plugin: List(%q) -> NOT_FOUND\n", key)
		return nil, plexus.Errorf(plexus.NotFound, "no list %q", key)
	}
	h.served++
	fmt.Fprintf(h.out, "  host <- plugin: List(%q) -> %d items\n", key, len(v))
	return v, nil
}

func run(ctx context.Context, out io.Writer, _ []string) error {
	values := &hostValues{
		out:   out,
		data:  map[string]string{"customer": "Ada Lovelace", "total": "42.00 EUR"},
		lists: map[string][]string{"items": {"1 x analytical engine manual", "3 x punched cards"}},
	}
	// The host's own services, which the plugin may call.
	hostMux := session.NewMux()
	if err := render.RegisterValues(hostMux, values); err != nil {
		return err
	}
	// Its description (signature hashes) lets the handshake check the
	// plugin's declared needs (plugin.ServeConfig.HostServices) against
	// what this host serves.
	if err := hostMux.Describe(render.ValuesServiceDesc); err != nil {
		return err
	}
	client, err := demoutil.Start(ctx, host.Config{
		Name:         "render-plugin",
		Cookie:       cookie,
		Versions:     map[uint32][]host.ServiceDesc{1: {render.RendererServiceDesc}},
		HostServices: hostMux,
		Logger:       demoutil.Logger(hclog.Warn),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	r := render.NewRendererClient(client)
	fmt.Fprintf(out, "plugin started (pid %d)\n", client.Pid())

	fmt.Fprintln(out, "host -> plugin: Render(\"invoice\")")
	start := time.Now()
	text, err := r.Render(ctx, "invoice", invoice)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "host -> plugin: Render returned after %d callbacks, in %v:\n",
		values.served, time.Since(start).Round(10*time.Microsecond))
	for _, line := range strings.Split(text, "\n") {
		fmt.Fprintf(out, "  | %s\n", line)
	}

	// The host's error travels back through the plugin to the host.
	fmt.Fprintln(out, "host -> plugin: Render(\"broken\"), which asks for a value the host does not have")
	_, err = r.Render(ctx, "broken", `Dear {{value "nobody"}}`)
	if !errors.Is(err, plexus.ErrNotFound) {
		return fmt.Errorf("rendering a missing value returned %v, want NOT_FOUND", err)
	}
	fmt.Fprintf(out, "host -> plugin: Render failed with %v\n", err)

	return demoutil.Close(out, client)
}
