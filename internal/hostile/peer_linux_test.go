package hostile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/wire"
)

// peer is one end of a link driven by hand, for attacks. It sends and
// receives descriptors through shm.Endpoint (no transport and no session
// stand between it and the rings), answers what an honest peer must answer
// (echo calls, Shutdown, pings, link credit), and keeps raw copies of every
// link descriptor plus a writable mapping of the whole segment, so that an
// attack can write any byte, any doorbell counter and any control message.
//
// Concurrency: the pump goroutine receives; attacks send from their own
// goroutine (Endpoint.Send is safe for concurrent use). Raw writes into the
// rings race with the pump's own sends: attacks that make them pause the
// pump first.
type peer struct {
	side    shm.Side
	seg     *shm.Segment
	ep      *shm.Endpoint
	mem     []byte    // the whole segment, mapped read-write
	bells   [2][2]int // raw doorbells [kind][direction], kind 0 data, 1 space
	ctl     int       // raw control socket (non-blocking: shares the conn's file)
	ctlConn *sockconn.Conn
	lay     layout

	paused   atomic.Bool // the pump stops consuming while set
	openMu   sync.Mutex  // IDs reach the peer in order
	nextID   uint64
	credit   atomic.Int64 // our link send window, as the peer accounts it
	consumed int64        // pump only: costed bytes received since our last grant

	mu        sync.Mutex
	calls     map[uint64]chan outcome
	resets    map[plexus.Code]int
	statuses  map[plexus.Code]int
	linkReset string
	pongs     atomic.Int64
	probeAux  atomic.Uint64 // a PING whose PONG is awaited
	probeSeen atomic.Bool
	served    atomic.Int64 // calls of the other side answered
	badIn     atomic.Int64 // descriptors of the other side that did not resolve
	goaway    atomic.Bool

	dead     chan struct{} // the other side closed the link (end of file)
	deadOnce sync.Once
	why      atomic.Pointer[string]
	quit     chan struct{}
	pumped   chan struct{}

	keptMu sync.Mutex
	kept   []int // descriptors an attack keeps open until the peer is closed

	resMu   sync.Mutex
	results map[string]any
	emit    func(key string, v any) // reports an observation (plugin: a stdout line)
	phase   func(name string)       // announces a phase of the attack
	logf    func(format string, args ...any)
}

// outcome is how a call of ours ended.
type outcome struct {
	code plexus.Code
	msg  string
}

// layout is this process's copy of the segment's geometry, read once at
// open (an attack may scribble the header afterwards).
type layout struct {
	ringOff, ringCap  [2]int
	poolOff, poolSize [2]int
	nclasses, nslots  [2]int
	table             [2]int // absolute offset of each pool's slot table
}

func parseLayout(mem []byte) layout {
	le := binary.LittleEndian
	var l layout
	for d := range 2 {
		l.ringOff[d] = int(le.Uint64(mem[32+16*d:]))
		l.ringCap[d] = int(le.Uint32(mem[40+16*d:]))
		l.poolOff[d] = int(le.Uint64(mem[64+16*d:]))
		l.poolSize[d] = int(le.Uint64(mem[72+16*d:]))
		po := l.poolOff[d]
		l.nclasses[d] = int(le.Uint32(mem[po:]))
		l.nslots[d] = int(le.Uint32(mem[po+4:]))
		l.table[d] = po + int(le.Uint64(mem[po+8:]))
	}
	return l
}

func newPeer(side shm.Side, seg *shm.Segment, mem []byte, bells [2][2]int, ctl int, conn *sockconn.Conn) (*peer, error) {
	ep, err := seg.Endpoint()
	if err != nil {
		return nil, err
	}
	p := &peer{
		side: side, seg: seg, ep: ep, mem: mem, bells: bells, ctl: ctl, ctlConn: conn,
		lay:   parseLayout(mem),
		calls: map[uint64]chan outcome{}, resets: map[plexus.Code]int{}, statuses: map[plexus.Code]int{},
		dead: make(chan struct{}), quit: make(chan struct{}), pumped: make(chan struct{}),
		results: map[string]any{},
	}
	p.nextID = 2
	if side == shm.Host {
		p.nextID = 1
	}
	p.credit.Store(linkWindow)
	p.emit = func(string, any) {}
	p.phase = func(string) {}
	p.logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "hostile peer: "+format+"\n", args...) }
	return p, nil
}

func (p *peer) start() {
	go p.pump()
	go p.watchCtl()
}

// tx and rx are the directions (ring and pool indices) this side sends and
// receives on.
func (p *peer) tx() int { return int(p.side) }
func (p *peer) rx() int { return 1 - int(p.side) }

// keep holds fd open until close: a memfd whose pages the other side may
// have made this side pay for stays so.
func (p *peer) keep(fd int) {
	p.keptMu.Lock()
	p.kept = append(p.kept, fd)
	p.keptMu.Unlock()
}

// close stops the peer and releases what this process holds of the link.
func (p *peer) close() {
	close(p.quit)
	_ = p.ctlConn.Close()
	p.die("closed")
	<-p.pumped
	_ = p.seg.Close()
	_ = unix.Munmap(p.mem)
	for _, fd := range append(p.kept, p.ctl, p.bells[0][0], p.bells[0][1], p.bells[1][0], p.bells[1][1]) {
		_ = unix.Close(fd)
	}
}

// result records an observation of the attack for the report.
func (p *peer) result(key string, v any) {
	p.resMu.Lock()
	p.results[key] = v
	p.resMu.Unlock()
	p.emit(key, v)
}

func (p *peer) die(why string) {
	p.deadOnce.Do(func() {
		p.why.Store(&why)
		close(p.dead)
		p.logf("link ended: %s", why)
	})
}

func (p *peer) isDead() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

func (p *peer) deadWhy() string {
	if w := p.why.Load(); w != nil {
		return *w
	}
	return ""
}

// watchCtl reads the control socket for the other side's end of file, and
// closes whatever descriptors arrive on it.
func (p *peer) watchCtl() {
	buf := make([]byte, 64)
	oob := make([]byte, 4096)
	for {
		n, oobn, _, err := p.ctlConn.ReadMsg(buf, oob)
		if oobn > 0 {
			closeRights(oob[:oobn])
		}
		if err != nil {
			p.die("control socket: " + err.Error())
			return
		}
		if n == 0 && oobn == 0 {
			p.die("control socket: end of file")
			return
		}
	}
}

func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			for _, fd := range fds {
				_ = unix.Close(fd)
			}
		}
	}
}

// pump receives and answers until the link ends or quit is closed.
func (p *peer) pump() {
	defer close(p.pumped)
	var batch [32]wire.Desc
	for {
		select {
		case <-p.quit:
			return
		case <-p.dead:
			return
		default:
		}
		if p.paused.Load() {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		n, err := p.ep.Recv(batch[:], 20*time.Millisecond)
		if err != nil {
			if errors.Is(err, shm.ErrTimeout) {
				continue
			}
			p.logf("receive: %v", err)
			p.die("receive: " + err.Error())
			return
		}
		for i := range n {
			p.handle(&batch[i])
		}
	}
}

func (p *peer) handle(d *wire.Desc) {
	pl, err := p.ep.Resolve(d)
	if err != nil {
		p.badIn.Add(1)
		return
	}
	kind, id, flags, aux := d.Kind(), d.Channel(), d.Flags(), d.Aux()
	method, credit := d.Method(), d.Credit()
	var body []byte
	switch kind {
	case wire.KindOpen, wire.KindData, wire.KindStatus, wire.KindNotify:
		p.consumed += int64(len(pl)) + wire.DescSize
		if kind != wire.KindData && kind != wire.KindNotify {
			body = append([]byte(nil), pl...)
		}
	case wire.KindReset:
		body = append([]byte(nil), pl...)
	}
	_ = p.ep.Release(d)
	if p.consumed >= linkWindow/2 {
		_ = p.sendBare(wire.KindCredit, 0, 0, uint32(p.consumed))
		p.consumed = 0
	}
	switch kind {
	case wire.KindOpen:
		p.serve(id, method, flags, body)
	case wire.KindStatus:
		o := outcome{code: plexus.Code(aux)}
		if o.code != plexus.OK && len(body) >= 4 {
			n := int(binary.LittleEndian.Uint32(body))
			if n <= len(body)-4 {
				o.msg = string(body[4 : 4+n])
			}
		}
		p.mu.Lock()
		p.statuses[o.code]++
		p.mu.Unlock()
		p.finish(id, o)
	case wire.KindReset:
		o := outcome{code: plexus.Code(aux), msg: string(body)}
		if id == 0 {
			p.mu.Lock()
			p.linkReset = o.code.String() + ": " + o.msg
			p.mu.Unlock()
			p.logf("the other side reset the link: %s: %s", o.code, o.msg)
			return
		}
		p.mu.Lock()
		p.resets[o.code]++
		p.mu.Unlock()
		p.finish(id, o)
	case wire.KindCredit:
		if id == 0 {
			p.credit.Add(int64(credit))
		}
	case wire.KindPing:
		_ = p.sendBare(wire.KindPong, 0, aux, 0)
	case wire.KindPong:
		p.pongs.Add(1)
		if aux != 0 && aux == p.probeAux.Load() {
			p.probeSeen.Store(true)
		}
	case wire.KindGoAway:
		p.goaway.Store(true)
	}
}

// serve answers a call of the other side: Echo and Shutdown honestly,
// anything else with UNIMPLEMENTED.
func (p *peer) serve(id, method uint64, flags uint8, body []byte) {
	if flags&wire.FlagMD != 0 && len(body) >= 2 && binary.LittleEndian.Uint16(body) == 0 {
		body = body[2:]
	}
	switch method {
	case echoID, shutdownID:
		if method == shutdownID {
			body = nil
		}
		p.served.Add(1)
		p.reply(id, body)
	default:
		_ = p.sendBare(wire.KindReset, id, uint64(plexus.Unimplemented), 0)
	}
}

// reply sends a call's STATUS (OK, with body) within link credit: at once
// if the window is positive, else from a goroutine that waits (bounded)
// for the other side's grant, as an honest session does.
func (p *peer) reply(id uint64, body []byte) {
	cost := int64(len(body) + wire.DescSize)
	send := func() {
		if err := p.sendFrame(newDesc(wire.KindStatus, id, wire.FlagMsg), body); err != nil {
			p.logf("reply on channel %d: %v", id, err)
		}
	}
	if p.trySpend(cost) {
		send()
		return
	}
	go func() {
		if p.spend(cost, 5*time.Second) {
			send()
		}
	}()
}

func (p *peer) finish(id uint64, o outcome) {
	p.mu.Lock()
	ch := p.calls[id]
	delete(p.calls, id)
	p.mu.Unlock()
	if ch != nil {
		ch <- o
	}
}

// rawResults is the observations recorded so far, encoded.
func (p *peer) rawResults() map[string]json.RawMessage {
	p.resMu.Lock()
	defer p.resMu.Unlock()
	out := make(map[string]json.RawMessage, len(p.results))
	for k, v := range p.results {
		out[k] = json.RawMessage(jsonLine(v))
	}
	return out
}
