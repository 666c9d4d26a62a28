package natsbridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
)

// OriginHeader carries the identity of the bridge that moved a message
// from one side to the other (see the package comment); TypeHeader the
// type of a typed message (bus.Message.Type, in hexadecimal), so that a
// typed topic keeps its type across NATS.
const (
	OriginHeader = "plexus-bridge-origin"
	TypeHeader   = "plexus-bus-type"
)

// Route is one export or import of a Bridge.
type Route struct {
	// Pattern selects the subjects the route carries.
	Pattern string
	// Queue, on an import route, makes the bridge a member of this NATS
	// queue group: each message goes to one bridge of the group. It
	// needs Prefix (see the package comment).
	Queue string
	// Prefix, on an import route, is put before the NATS subject, with a
	// '.', to make the local one.
	Prefix string
}

// Config says what a Bridge carries.
type Config struct {
	// Bus is the local bus; Conn a connected NATS client, which the
	// bridge uses and never closes.
	Bus  *bus.Bus
	Conn *nats.Conn
	// Export routes go from the bus to NATS, Import routes the other way.
	Export []Route
	Import []Route
	// Buffer is the buffer of each export route's subscription of the
	// bus (bus.SubOptions.Buffer; its overflow is Block: local
	// publishers wait while the bridge cannot keep up). 0: 4096.
	Buffer int
	// Logger reports dropped messages; nil logs nothing.
	Logger hclog.Logger
}

// Stats counts what a Bridge did since New.
type Stats struct {
	Exported      int64 // messages published on NATS
	ExportDropped int64 // messages NATS refused (reconnect buffer full, connection closed)
	Imported      int64 // messages published on the local bus
	ImportDropped int64 // NATS messages the bus refused (bad subject, bus closed)
}

// Bridge moves messages between a bus and NATS; see the package comment.
type Bridge struct {
	cfg    Config
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*nats.Subscription
	closed atomic.Bool

	exported, exportDropped, imported, importDropped atomic.Int64
}

// New starts a Bridge. It fails if a route is malformed or a subscription
// cannot be made, leaving nothing running.
func New(cfg Config) (*Bridge, error) {
	if cfg.Bus == nil || cfg.Conn == nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "natsbridge: Config needs Bus and Conn")
	}
	if err := checkRoutes(cfg); err != nil {
		return nil, err
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	b := &Bridge{cfg: cfg, id: hex.EncodeToString(id[:])}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	for _, r := range cfg.Import {
		if err := b.startImport(r); err != nil {
			b.Close()
			return nil, err
		}
	}
	for _, r := range cfg.Export {
		if err := b.startExport(r); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func checkRoutes(cfg Config) error {
	for _, r := range cfg.Export {
		if err := bus.ValidatePattern(r.Pattern); err != nil {
			return err
		}
		if r.Queue != "" || r.Prefix != "" {
			return plexus.Errorf(plexus.InvalidArgument, "natsbridge: export route %q: Queue and Prefix are for imports", r.Pattern)
		}
	}
	for _, r := range cfg.Import {
		if err := bus.ValidatePattern(r.Pattern); err != nil {
			return err
		}
		if r.Prefix != "" {
			if err := bus.ValidatePattern(r.Prefix + "." + r.Pattern); err != nil {
				return fmt.Errorf("natsbridge: import route %q: prefix %q: %w", r.Pattern, r.Prefix, err)
			}
		}
		if r.Queue != "" && r.Prefix == "" {
			return plexus.Errorf(plexus.InvalidArgument, "natsbridge: import route %q with queue %q needs a Prefix: local consumers of the producers' own subject would get each message twice", r.Pattern, r.Queue)
		}
	}
	return nil
}

// startExport subscribes to the route on the bus and starts the goroutine
// that publishes what arrives on NATS.
func (b *Bridge) startExport(r Route) error {
	sub, err := b.cfg.Bus.Subscribe(b.ctx, r.Pattern, bus.SubOptions{Buffer: b.cfg.Buffer, Overflow: bus.Block})
	if err != nil {
		return err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_ = sub.Consume(b.ctx, b.export)
	}()
	return nil
}

// export publishes one local message on NATS, unless it came from NATS.
func (b *Bridge) export(d *bus.Delivery) error {
	if d.Header[OriginHeader] != "" {
		return nil // imported: it is on NATS already
	}
	m := &nats.Msg{Subject: d.Subject, Data: d.Data, Header: nats.Header{}}
	for k, v := range d.Header {
		m.Header.Set(k, v)
	}
	m.Header.Set(OriginHeader, b.id)
	if d.Type != 0 {
		m.Header.Set(TypeHeader, strconv.FormatUint(d.Type, 16))
	}
	if err := b.cfg.Conn.PublishMsg(m); err != nil {
		b.exportDropped.Add(1)
		b.cfg.Logger.Warn("natsbridge: message not exported", "subject", d.Subject, "error", err)
		return nil
	}
	b.exported.Add(1)
	return nil
}

// startImport subscribes to the route on NATS.
func (b *Bridge) startImport(r Route) error {
	handle := func(m *nats.Msg) { b.importMsg(r, m) }
	var sub *nats.Subscription
	var err error
	if r.Queue != "" {
		sub, err = b.cfg.Conn.QueueSubscribe(r.Pattern, r.Queue, handle)
	} else {
		sub, err = b.cfg.Conn.Subscribe(r.Pattern, handle)
	}
	if err != nil {
		return plexus.WithCause(plexus.Unavailable, err, "natsbridge: subscribe "+r.Pattern+": "+err.Error())
	}
	b.subs = append(b.subs, sub)
	return nil
}

// importMsg publishes one NATS message on the local bus, unless this
// bridge exported it (fan-out imports only: a queue group spans hosts).
func (b *Bridge) importMsg(r Route, m *nats.Msg) {
	origin := m.Header.Get(OriginHeader)
	if r.Queue == "" && origin == b.id {
		return
	}
	subject := m.Subject
	if r.Prefix != "" {
		subject = r.Prefix + "." + subject
	}
	md := plexus.Metadata{}
	for k := range m.Header {
		if k != TypeHeader {
			md[k] = m.Header.Get(k)
		}
	}
	typ, err := strconv.ParseUint(m.Header.Get(TypeHeader), 16, 64)
	if err != nil && m.Header.Get(TypeHeader) != "" {
		b.importDropped.Add(1)
		b.cfg.Logger.Warn("natsbridge: message with a malformed type not imported", "subject", m.Subject)
		return
	}
	if origin == "" {
		md[OriginHeader] = b.id // published on NATS by someone else: marked as imported
	}
	_, err = b.cfg.Bus.Publish(b.ctx, &bus.Message{Subject: subject, Header: md, Data: m.Data, Type: typ})
	if err != nil && !errors.Is(err, context.Canceled) {
		b.importDropped.Add(1)
		b.cfg.Logger.Warn("natsbridge: message not imported", "subject", subject, "error", err)
		return
	}
	b.imported.Add(1)
}

// Stats returns what the bridge did so far.
func (b *Bridge) Stats() Stats {
	return Stats{
		Exported: b.exported.Load(), ExportDropped: b.exportDropped.Load(),
		Imported: b.imported.Load(), ImportDropped: b.importDropped.Load(),
	}
}

// Close stops the routes: it unsubscribes from NATS and from the bus and
// waits for the export goroutines. Messages in flight may be lost.
func (b *Bridge) Close() {
	if !b.closed.CompareAndSwap(false, true) {
		return
	}
	for _, s := range b.subs {
		_ = s.Unsubscribe()
	}
	b.cancel()
	b.wg.Wait()
}
