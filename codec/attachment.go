package codec

import "encoding/binary"

// AttachmentExt is the MessagePack extension type reserved for attachment
// references: a lease (zero-copy blob) passed as an argument or result
// travels beside the message, and the message carries only its index
// among the call's attachments.
const AttachmentExt int8 = 80

// AppendAttachment appends a reference to attachment idx: a fixext4 of
// type AttachmentExt holding idx as a big-endian uint32.
func AppendAttachment(b []byte, idx uint32) []byte {
	b = append(b, 0xd6, byte(AttachmentExt))
	return binary.BigEndian.AppendUint32(b, idx)
}

// IsAttachment reports whether the next value is an attachment reference,
// without consuming it.
func (d *Decoder) IsAttachment() bool {
	r := d.b[d.off:]
	return len(r) >= 2 && r[0] == 0xd6 && int8(r[1]) == AttachmentExt
}

// Attachment decodes an attachment reference and returns its index. Only
// the fixext4 form is accepted: there is one encoding of each index.
func (d *Decoder) Attachment() (uint32, error) {
	if !d.IsAttachment() {
		return 0, d.typeErr("attachment reference")
	}
	if d.Len() < SizeAttachment {
		return 0, errAt(d.off, ErrMalformed, nil, "attachment reference truncated (%d bytes left)", d.Len())
	}
	idx := binary.BigEndian.Uint32(d.b[d.off+2:])
	d.off += SizeAttachment
	return idx, nil
}
