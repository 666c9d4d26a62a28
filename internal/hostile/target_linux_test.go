package hostile

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The target service's handlers: what an attacker calls on its victim
// (the host's callbacks, or the victim plugin's services).

// drainPause is how long Drain waits before its first Recv: long enough
// for an attacker to rewrite a frame the session validated on arrival.
const drainPause = 150 * time.Millisecond

// slowNote is how long Slow takes per notification.
const slowNote = 250 * time.Microsecond

func echo(_ context.Context, req []byte) (plexus.Marshaler, error) { return plexus.Raw(req), nil }

func hold(ctx context.Context, _ *session.Stream) error {
	<-ctx.Done()
	return ctx.Err()
}

func drain(ctx context.Context, st *session.Stream) error {
	select {
	case <-time.After(drainPause):
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		var m plexus.Raw
		if err := st.Recv(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func slow(ctx context.Context, _ []byte) {
	t := time.NewTimer(slowNote)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// store is a trivial kvtest.Store: the attacks only need its generated
// server to decode their arguments.
type store struct{}

func (store) Get(context.Context, string) ([]byte, error)              { return nil, nil }
func (store) Put(context.Context, string, []byte, time.Duration) error { return nil }
func (store) Ping(context.Context) error                               { return nil }
func (store) Lookup(context.Context, []string, map[string]int64) ([]kvtest.Entry, map[string]bool, error) {
	return nil, nil, nil
}
func (store) Stamp(_ context.Context, at time.Time, _ *int32, pri kvtest.Priority, _ kvtest.Blob, _ [][]byte, byID map[uint16]*kvtest.Entry) (time.Time, *kvtest.Entry, []kvtest.Priority, error) {
	for _, e := range byID {
		return at, e, []kvtest.Priority{pri}, nil
	}
	return at, nil, nil, nil
}

// hostServices is the host's callback Mux: the target service and kvtest.
func hostServices() (*session.Mux, error) {
	m := session.NewMux()
	for _, r := range []struct {
		name string
		reg  func() (uint64, error)
	}{
		{"Echo", func() (uint64, error) { return m.HandleUnary(targetService, "Echo", echo) }},
		{"Hold", func() (uint64, error) { return m.HandleStream(targetService, "Hold", hold) }},
		{"Drain", func() (uint64, error) { return m.HandleStream(targetService, "Drain", drain) }},
		{"Slow", func() (uint64, error) { return m.HandleNotify(targetService, "Slow", slow) }},
	} {
		if _, err := r.reg(); err != nil {
			return nil, err
		}
	}
	if err := kvtest.RegisterStore(m, store{}); err != nil {
		return nil, err
	}
	return m, nil
}

// pluginExpects is what the host requires of every plugin it starts: the
// target's Echo (the hostile plugin answers it by hand).
func pluginExpects() map[uint32][]host.ServiceDesc {
	return map[uint32][]host.ServiceDesc{1: {{Name: targetService, Methods: []host.MethodDesc{
		{Name: "Echo", Kind: plexus.Unary, Signature: targetSig},
	}}}}
}

// victimMain is the "victim-plugin" role: an honest plugin.
func victimMain() {
	svc := plugin.Service{Name: targetService, Methods: []plugin.Method{
		{Name: "Echo", Signature: targetSig, Unary: echo},
		{Name: "Hold", Signature: targetSig, Stream: hold},
		{Name: "Drain", Signature: targetSig, Stream: drain},
		{Name: "Slow", Signature: targetSig, Notify: slow},
	}}
	kv := plugin.Generated(kvtest.StoreServiceDesc, func(m *session.Mux) error { return kvtest.RegisterStore(m, store{}) })
	plugin.Serve(plugin.ServeConfig{Cookie: cookie, Versions: map[uint32][]plugin.Service{1: {svc, kv}},
		Logger: plugin.Logger("victim")})
}
