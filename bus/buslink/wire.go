package buslink

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/wire"
)

// ServiceName is the reserved service through which a peer reaches the
// bus; its methods are Publish, PublishAsync, PublishLarge and Subscribe.
const ServiceName = "plexus.Bus"

// Method IDs of the service.
var (
	// PublishMethod is the unary publish: a publishRequest, answered
	// with a publishResult.
	PublishMethod = plexus.MethodID(ServiceName, "Publish")
	// PublishAsyncMethod is the notification form: a publishRequest, no
	// answer.
	PublishAsyncMethod = plexus.MethodID(ServiceName, "PublishAsync")
	// PublishLargeMethod is the publish of large data, a client stream:
	// the OPEN carries a largeRequest, the next message is the data
	// alone; the answer is a publishResult.
	PublishLargeMethod = plexus.MethodID(ServiceName, "PublishLarge")
	// SubscribeMethod is the bidirectional stream of a subscription: the
	// OPEN carries a subscribeRequest, the host sends deliveries, the
	// subscriber sends acks.
	SubscribeMethod = plexus.MethodID(ServiceName, "Subscribe")
)

// Wire limits, checked on both sides.
const (
	// MaxAckTags bounds the explicit tags of one ack message.
	MaxAckTags = 4096
	// MaxQueueLen bounds a queue group's name.
	MaxQueueLen = bus.MaxSubjectLen
	// LargeData: a message whose Data is longer travels as a message of
	// its own after its record (a delivery, a Publish from a Client), so
	// that shared memory sends it by reference when it lies in sealed
	// memory, and the receiver reads it in place.
	LargeData = 64 << 10
	// maxLargeSize bounds the size a large record announces: a frame's
	// length is 32 bits.
	maxLargeSize = math.MaxUint32
)

// Flags of a delivery.
const (
	flagRedelivered = 1 << iota
	flagReplayed
	// flagLarge: the data is not in the record but follows it, alone, as
	// the stream's next message, of the record's size.
	flagLarge
	flagsKnown = flagRedelivered | flagReplayed | flagLarge
)

// signature hashes: the text names the wire form and its version, to be
// changed with it, so that a host and a plugin built against different
// forms fail at link time (the plugin declares ServiceDesc in
// plugin.ServeConfig.HostServices).
func signature(text string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	return h.Sum64()
}

const (
	sigPublishText = "plexus.Bus.Publish/2: request [subject str, header map|nil, data bin|nil, type uint]; response [delivered uint, dropped uint]"
	sigAsyncText   = "plexus.Bus.PublishAsync/2: message [subject str, header map|nil, data bin|nil, type uint]"
	sigLargeText   = "plexus.Bus.PublishLarge/2: client stream: open [subject str, header map|nil, size uint, type uint]; then data alone (size bytes); " +
		"response [delivered uint, dropped uint]"
	sigSubText = "plexus.Bus.Subscribe/5: open [pattern str, queue str, policy uint, buffer uint, overflow uint, history uint, type uint]; " +
		"down first [subscription uint], then batches [first tag uint, [[seq uint, subject str, header map|nil, data bin|nil, flags uint(1 redelivered, 2 replayed, 4 large), size uint], ...]] " +
		"of 1 to 256, tags consecutive from 1 across batches, only the last large, a large one followed by its data alone (size bytes); " +
		"up [upTo uint, tags [uint]]"
)

// ServiceDesc describes the service for the link handshake: a plugin
// lists it in plugin.ServeConfig.HostServices, and a host whose Mux was
// given it by Register refuses the link at start when the signatures
// differ.
var ServiceDesc = plexus.ServiceDesc{Name: ServiceName, Methods: []plexus.MethodDesc{
	{Name: "Publish", ID: PublishMethod, Kind: plexus.Unary, Signature: signature(sigPublishText)},
	{Name: "PublishAsync", ID: PublishAsyncMethod, Kind: plexus.Notification, Signature: signature(sigAsyncText)},
	{Name: "PublishLarge", ID: PublishLargeMethod, Kind: plexus.ClientStream, Signature: signature(sigLargeText)},
	{Name: "Subscribe", ID: SubscribeMethod, Kind: plexus.BidiStream, Signature: signature(sigSubText)},
}}

// decodeLimits bound what a peer's message may make the decoder accept
// before the checks below look at it: no nesting beyond a map in an
// array, strings no longer than a metadata block.
var decodeLimits = codec.Limits{MaxDepth: 3, MaxStringLen: wire.MaxMetadataBytes, MaxElements: MaxAckTags + 2*wire.MaxMetadataEntries + 16}

// publishRequest is a message to publish: [subject, header, data, type]
// (type: bus.Message.Type, 0 for an untyped message).
type publishRequest struct {
	subject string
	header  plexus.Metadata
	data    []byte
	typ     uint64
}

func (m *publishRequest) Msgsize() int {
	n := codec.SizeArrayHeader + codec.SizeString(m.subject) + codec.SizeBytes(m.data) + codec.SizeInt
	return n + codec.SizeMap(m.header, codec.SizeString, codec.SizeString)
}

func (m *publishRequest) MarshalMsg(b []byte) ([]byte, error) {
	b = codec.AppendArrayHeader(b, 4)
	b = codec.AppendString(b, m.subject)
	b = appendHeader(b, m.header)
	b = codec.AppendBytes(b, m.data)
	return codec.AppendUint64(b, m.typ), nil
}

// decode reads and checks a request from the peer. data is a view of b
// unless copyData.
func (m *publishRequest) decode(b []byte, copyData bool) error {
	var d codec.Decoder
	d.Reset(b, decodeLimits)
	err := d.Tuple(4)
	if err == nil {
		m.subject, err = d.String()
	}
	if err == nil {
		m.header, err = readHeader(&d)
	}
	if err == nil {
		m.data, err = readData(&d, copyData)
	}
	if err == nil {
		m.typ, err = d.Uint64()
	}
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return malformed("publish request", err)
	}
	return bus.ValidateSubject(m.subject)
}

// largeRequest opens PublishLarge: [subject, header, size, type]; the
// data, of size bytes, is the stream's next message, alone.
type largeRequest struct {
	subject string
	header  plexus.Metadata
	size    uint64
	typ     uint64
}

func (m *largeRequest) Msgsize() int {
	n := codec.SizeArrayHeader + codec.SizeString(m.subject) + 2*codec.SizeInt
	return n + codec.SizeMap(m.header, codec.SizeString, codec.SizeString)
}

func (m *largeRequest) MarshalMsg(b []byte) ([]byte, error) {
	b = codec.AppendArrayHeader(b, 4)
	b = codec.AppendString(b, m.subject)
	b = appendHeader(b, m.header)
	b = codec.AppendUint64(b, m.size)
	return codec.AppendUint64(b, m.typ), nil
}

func (m *largeRequest) UnmarshalMsg(b []byte) ([]byte, error) {
	var d codec.Decoder
	d.Reset(b, decodeLimits)
	err := d.Tuple(4)
	if err == nil {
		m.subject, err = d.String()
	}
	if err == nil {
		m.header, err = readHeader(&d)
	}
	if err == nil {
		m.size, err = d.Uint64()
	}
	if err == nil {
		m.typ, err = d.Uint64()
	}
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return nil, malformed("large publish request", err)
	}
	if m.size == 0 || m.size > maxLargeSize {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: large publish of %d bytes", m.size)
	}
	return nil, bus.ValidateSubject(m.subject)
}

// publishResult answers Publish: [delivered, dropped].
type publishResult struct {
	res bus.PublishResult
}

func (m *publishResult) Msgsize() int { return codec.SizeArrayHeader + 2*codec.SizeInt }

func (m *publishResult) MarshalMsg(b []byte) ([]byte, error) {
	b = codec.AppendArrayHeader(b, 2)
	b = codec.AppendUint64(b, uint64(m.res.Delivered))
	return codec.AppendUint64(b, uint64(m.res.Dropped)), nil
}

func (m *publishResult) UnmarshalMsg(b []byte) ([]byte, error) {
	var d codec.Decoder
	d.Reset(b, decodeLimits)
	err := d.Tuple(2)
	var del, drop uint64
	if err == nil {
		del, err = d.Uint64()
	}
	if err == nil {
		drop, err = d.Uint64()
	}
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return nil, malformed("publish result", err)
	}
	// Counts of subscriptions: far below MaxInt32 on any real bus.
	if del > math.MaxInt32 || drop > math.MaxInt32 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: publish result counts %d, %d out of range", del, drop)
	}
	m.res = bus.PublishResult{Delivered: int(del), Dropped: int(drop)}
	return nil, nil
}

// subscribeRequest opens a subscription: [pattern, queue, policy,
// buffer, overflow, history, type]. History saturates at bus.AllHistory.
type subscribeRequest struct {
	pattern string
	opts    bus.SubOptions
}

func (m *subscribeRequest) Msgsize() int {
	return codec.SizeArrayHeader + codec.SizeString(m.pattern) + codec.SizeString(m.opts.Queue) + 5*codec.SizeInt
}

func (m *subscribeRequest) MarshalMsg(b []byte) ([]byte, error) {
	o := m.opts
	if o.Buffer < 0 || o.History < 0 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: negative Buffer or History in SubOptions")
	}
	b = codec.AppendArrayHeader(b, 7)
	b = codec.AppendString(b, m.pattern)
	b = codec.AppendString(b, o.Queue)
	b = codec.AppendUint8(b, uint8(o.QueuePolicy))
	b = codec.AppendUint64(b, uint64(o.Buffer))
	b = codec.AppendUint8(b, uint8(o.Overflow))
	b = codec.AppendUint64(b, uint64(o.History))
	return codec.AppendUint64(b, o.Type), nil
}

func (m *subscribeRequest) UnmarshalMsg(b []byte) ([]byte, error) {
	var d codec.Decoder
	d.Reset(b, decodeLimits)
	var policy, overflow uint8
	var buffer, history uint64
	err := d.Tuple(7)
	if err == nil {
		m.pattern, err = d.String()
	}
	if err == nil {
		m.opts.Queue, err = d.String()
	}
	if err == nil {
		policy, err = d.Uint8()
	}
	if err == nil {
		buffer, err = d.Uint64()
	}
	if err == nil {
		overflow, err = d.Uint8()
	}
	if err == nil {
		history, err = d.Uint64()
	}
	if err == nil {
		m.opts.Type, err = d.Uint64()
	}
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return nil, malformed("subscribe request", err)
	}
	m.opts.QueuePolicy, m.opts.Overflow = bus.QueuePolicy(policy), bus.Overflow(overflow)
	m.opts.Buffer = int(min(buffer, math.MaxInt32))
	m.opts.History = int(min(history, uint64(bus.AllHistory)))
	return nil, m.check()
}

// check refuses what the bus would refuse, and what it would accept but
// should not from a peer.
func (m *subscribeRequest) check() error {
	if err := bus.ValidatePattern(m.pattern); err != nil {
		return err
	}
	switch o := m.opts; {
	case len(o.Queue) > MaxQueueLen:
		return plexus.Errorf(plexus.InvalidArgument, "buslink: queue name of %d bytes exceeds %d", len(o.Queue), MaxQueueLen)
	case o.QueuePolicy > bus.LeastLoaded:
		return plexus.Errorf(plexus.InvalidArgument, "buslink: unknown %v", o.QueuePolicy)
	case o.Overflow > bus.End:
		return plexus.Errorf(plexus.InvalidArgument, "buslink: unknown %v", o.Overflow)
	}
	return nil
}

// subscribed is the host's first message on a Subscribe stream, sent
// once the bus subscription exists: [subscription ID].
type subscribed struct {
	id uint64
}

func (m *subscribed) Msgsize() int { return codec.SizeArrayHeader + codec.SizeInt }

func (m *subscribed) MarshalMsg(b []byte) ([]byte, error) {
	return codec.AppendUint64(codec.AppendArrayHeader(b, 1), m.id), nil
}

func (m *subscribed) UnmarshalMsg(b []byte) ([]byte, error) {
	var d codec.Decoder
	d.Reset(b, decodeLimits)
	err := d.Tuple(1)
	if err == nil {
		m.id, err = d.Uint64()
	}
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return nil, malformed("subscribe confirmation", err)
	}
	if m.id == 0 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: subscription ID 0")
	}
	return nil, nil
}

// delivery is one message of a subscription, host to subscriber: [seq,
// subject, header, data, flags, size], in a batch (batch.go) that gives
// its tag: the stream's deliveries are numbered from 1, in the order
// sent, and acks name them by these tags. With flagLarge, data is empty
// and the data, of size bytes (more than zero), is the stream's next
// message, alone; otherwise size is 0.
type delivery struct {
	tag, seq uint64 // tag: the batch's first tag plus the record's index
	subject  string
	header   plexus.Metadata
	data     []byte
	flags    uint8
	size     uint64
}

func (m *delivery) Msgsize() int {
	n := codec.SizeArrayHeader + 3*codec.SizeInt + codec.SizeString(m.subject) + codec.SizeBytes(m.data)
	return n + codec.SizeMap(m.header, codec.SizeString, codec.SizeString)
}

// appendTo appends the record, without its tag.
func (m *delivery) appendTo(b []byte) []byte {
	if len(m.header) == 0 && len(m.subject) < 32 && m.data != nil && len(m.data) < 256 && m.flags < 128 && m.size == 0 {
		return m.appendSmall(b)
	}
	b = codec.AppendArrayHeader(b, 6)
	b = codec.AppendUint64(b, m.seq)
	b = codec.AppendString(b, m.subject)
	b = appendHeader(b, m.header)
	b = codec.AppendBytes(b, m.data)
	b = codec.AppendUint8(b, m.flags)
	return codec.AppendUint64(b, m.size)
}

// appendSmall is appendTo for the common record (no header, a short
// subject and data, no large data): the bytes the general form writes
// (fixarray, the seq's uint, fixstr, nil, bin8, fixints), written with
// one capacity check, since a host writes millions a second on its
// publishers' goroutines (TestAppendSmall holds the two forms equal).
func (m *delivery) appendSmall(b []byte) []byte {
	b = slices.Grow(b, 1+9+1+len(m.subject)+3+len(m.data)+2)
	b = append(b, 0x96)
	b = codec.AppendUint64(b, m.seq)
	b = append(b, 0xa0|byte(len(m.subject)))
	b = append(b, m.subject...)
	b = append(b, 0xc0, 0xc4, byte(len(m.data)))
	b = append(b, m.data...)
	return append(b, m.flags, 0)
}

// decode reads one record from d, its data a view of d's input; the
// caller sets its tag. prev is the subject of the delivery before it,
// already validated: an equal subject is that string itself (see
// internString), not validated again.
func (m *delivery) decode(d *codec.Decoder, prev string) error {
	if n := m.readSmall(d.Rest(), prev); n > 0 {
		if err := d.Consume(n, 6); err != nil {
			return malformed("delivery", err)
		}
		return m.validate(prev)
	}
	err := d.Tuple(6)
	if err == nil {
		m.seq, err = d.Uint64()
	}
	if err == nil {
		m.subject, err = internString(d, prev)
	}
	if err == nil {
		m.header, err = readHeader(d)
	}
	if err == nil {
		m.data, err = d.Bytes()
	}
	if err == nil {
		m.flags, err = d.Uint8()
	}
	if err == nil {
		m.size, err = d.Uint64()
	}
	if err != nil {
		return malformed("delivery", err)
	}
	return m.validate(prev)
}

// validate checks a decoded record (check) and its subject, unless it is
// prev, validated already.
func (m *delivery) validate(prev string) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.subject != "" && m.subject == prev {
		return nil
	}
	return bus.ValidateSubject(m.subject)
}

// readSmall reads a record in appendSmall's form straight from b (no
// header, a fixstr subject, bin8 data, fixint flags, size 0) and returns
// the bytes it took, or 0, having set nothing, for any other form, which
// decode reads through the Decoder: a subscriber decodes millions a
// second. validate checks what it read, as for the general form.
func (m *delivery) readSmall(b []byte, prev string) int {
	if len(b) < 8 || b[0] != 0x96 {
		return 0
	}
	seq, i := uint64(0), 2
	switch c := b[1]; {
	case c <= 0x7f:
		seq = uint64(c)
	case c == 0xcc:
		seq, i = uint64(b[2]), 3
	case c == 0xcd && len(b) >= 4:
		seq, i = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case c == 0xce && len(b) >= 6:
		seq, i = uint64(binary.BigEndian.Uint32(b[2:])), 6
	case c == 0xcf && len(b) >= 10:
		seq, i = binary.BigEndian.Uint64(b[2:]), 10
	default:
		return 0
	}
	if i >= len(b) || b[i]&0xe0 != 0xa0 {
		return 0
	}
	sl := int(b[i] & 0x1f)
	i++
	if len(b)-i < sl+3 || b[i+sl] != 0xc0 || b[i+sl+1] != 0xc4 {
		return 0
	}
	subject := b[i : i+sl]
	i += sl + 2
	dl := int(b[i])
	i++
	if len(b)-i < dl+2 || b[i+dl] > 0x7f || b[i+dl+1] != 0 {
		return 0
	}
	m.seq, m.header, m.data, m.flags, m.size = seq, nil, b[i:i+dl:i+dl], b[i+dl], 0
	m.subject = interned(subject, prev)
	return i + dl + 2
}

// internString reads a string, returning prev itself when the bytes are
// equal to it: a subscription's deliveries mostly carry one subject,
// which then costs no allocation per message.
func internString(d *codec.Decoder, prev string) (string, error) {
	v, err := d.StringView()
	if err != nil {
		return "", err
	}
	return interned(v, prev), nil
}

// interned is v as a string: prev itself when the bytes are equal.
func interned(v []byte, prev string) string {
	if string(v) == prev {
		return prev
	}
	return string(v)
}

// check refuses unknown flags, and a size that does not go with
// flagLarge (an empty record, of a size within a frame's).
func (m *delivery) check() error {
	large := m.flags&flagLarge != 0
	switch {
	case m.flags&^flagsKnown != 0:
		return plexus.Errorf(plexus.InvalidArgument, "buslink: delivery %d has unknown flags %#x", m.tag, m.flags)
	case large && (len(m.data) > 0 || m.size == 0 || m.size > maxLargeSize):
		return plexus.Errorf(plexus.InvalidArgument, "buslink: large delivery %d with %d bytes of data and size %d", m.tag, len(m.data), m.size)
	case !large && m.size != 0:
		return plexus.Errorf(plexus.InvalidArgument, "buslink: delivery %d of size %d without the large flag", m.tag, m.size)
	}
	return nil
}

// ack acknowledges a queue member's deliveries, subscriber to host:
// [upTo, tags]: every tag up to upTo (0: none), and each of tags.
type ack struct {
	upTo uint64
	tags []uint64
}

func (m *ack) Msgsize() int {
	return codec.SizeArrayHeader + codec.SizeInt + codec.SizeArrayHeader + len(m.tags)*codec.SizeInt
}

func (m *ack) MarshalMsg(b []byte) ([]byte, error) {
	b = codec.AppendArrayHeader(b, 2)
	b = codec.AppendUint64(b, m.upTo)
	b = codec.AppendArrayHeader(b, len(m.tags))
	for _, t := range m.tags {
		b = codec.AppendUint64(b, t)
	}
	return b, nil
}

func (m *ack) UnmarshalMsg(b []byte) ([]byte, error) {
	var d codec.Decoder
	d.Reset(b, decodeLimits)
	err := d.Tuple(2)
	if err == nil {
		m.upTo, err = d.Uint64()
	}
	n := 0
	if err == nil {
		n, err = d.ArrayHeader()
	}
	if err == nil && n > MaxAckTags {
		return nil, plexus.Errorf(plexus.InvalidArgument, "buslink: ack of %d tags exceeds %d", n, MaxAckTags)
	}
	m.tags = m.tags[:0]
	for i := 0; err == nil && i < n; i++ {
		var t uint64
		if t, err = d.Uint64(); err == nil {
			m.tags = append(m.tags, t)
		}
	}
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return nil, malformed("ack", err)
	}
	return nil, nil
}

func appendHeader(b []byte, h plexus.Metadata) []byte {
	if len(h) == 0 {
		return codec.AppendNil(b)
	}
	return codec.AppendMap(b, h, codec.AppendString, codec.AppendString)
}

// readHeader reads a header and holds it to the metadata limits.
func readHeader(d *codec.Decoder) (plexus.Metadata, error) {
	if d.IsNil() {
		return nil, d.Nil()
	}
	m, err := codec.ReadMap(d, (*codec.Decoder).String, (*codec.Decoder).String)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	if _, err := wire.MetadataSize(m); err != nil {
		return nil, err
	}
	return m, nil
}

func readData(d *codec.Decoder, copyData bool) ([]byte, error) {
	if copyData {
		return d.BytesCopy(nil)
	}
	return d.Bytes()
}

// checkHeader holds a header to be sent to the metadata limits.
func checkHeader(h plexus.Metadata) error {
	if len(h) == 0 {
		return nil
	}
	_, err := wire.MetadataSize(h)
	return err
}

func malformed(what string, err error) error {
	if _, ok := err.(*plexus.Status); ok {
		return err
	}
	return plexus.WithCause(plexus.InvalidArgument, err, "buslink: malformed "+what+": "+err.Error())
}
