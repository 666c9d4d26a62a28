//go:build linux

package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"text/template"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/callbacks/render"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// renderer implements render.Renderer in the plugin process; values
// calls the host's Values service over the plugin's own link.
type renderer struct {
	values atomic.Pointer[render.ValuesClient]
}

func (r *renderer) Render(ctx context.Context, name, text string) (string, error) {
	values := r.values.Load()
	if values == nil {
		return "", plexus.Errorf(plexus.Unavailable, "the link to the host is not up yet")
	}
	// Each template function is a call into the host, made while the
	// host's Render call waits: calls in both directions on one link.
	// They take the handler's ctx, so the host's deadline and
	// cancellation reach them too.
	funcs := template.FuncMap{
		"value": func(key string) (string, error) { return values.Value(ctx, key) },
		"list":  func(key string) ([]string, error) { return values.List(ctx, key) },
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		// A status from the host (NOT_FOUND for an unknown key) goes
		// back with its code, and the template's context as message.
		var st *plexus.Status
		if errors.As(err, &st) {
			return "", plexus.Errorf(st.Code, "%v", err)
		}
		return "", err
	}
	return b.String(), nil
}

func pluginConfig() plugin.ServeConfig {
	impl := &renderer{}
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{
			1: {render.NewRendererService(impl)},
		},
		// The host services the plugin calls: the host checks at link
		// time that it serves them with the same signatures, so a plugin
		// built against another version of Values fails at Start, naming
		// the method, rather than at its first callback.
		HostServices: map[uint32][]plugin.ServiceDesc{
			1: {render.ValuesServiceDesc},
		},
		// The session to the host, through which the plugin calls the
		// services the host registered in host.Config.HostServices.
		OnLink: func(host session.Conn, _ uint32) {
			impl.values.Store(render.NewValuesClient(host))
		},
	}
}
