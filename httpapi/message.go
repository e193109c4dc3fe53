package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"mqsh/queue"
)

// Message JSON: the object `queue list -o json` writes (queue's
// Message.MarshalJSON: domains[] for v0.7-v0.12 clients, recipients[] for
// v0.13+ ones, mqsh's queue_id and reply fields), plus blob_hash, which
// Stalwart's clients expect: the SHA-256 of the stored message text,
// base64url without padding, as Stalwart writes its 32-byte blob hashes.

// appendMessageJSON appends m, with its blob hash, to dst, reading its
// text through tx.
func appendMessageJSON(dst []byte, tx queue.Txn, m *queue.Message) ([]byte, error) {
	raw, err := tx.Raw(m.ID)
	if err != nil {
		return dst, fmt.Errorf("read message %d: %w", uint64(m.ID), err)
	}
	return appendWithBlobHash(dst, m, raw)
}

// appendWithBlobHash appends m to dst with the blob hash of raw as its last
// field.
func appendWithBlobHash(dst []byte, m *queue.Message, raw []byte) ([]byte, error) {
	start := len(dst)
	b, err := m.AppendJSON(dst)
	if err != nil {
		return dst, err
	}
	if len(b)-start < 2 || b[len(b)-1] != '}' {
		return dst, fmt.Errorf("message %d: its JSON is not an object", uint64(m.ID))
	}
	sum := sha256.Sum256(raw)
	b = append(b[:len(b)-1], `,"blob_hash":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, sum[:])
	return append(b, `"}`...), nil
}

// LastIDHeader, on a full page of a listing held whole before it is sent,
// is the id (decimal) of the page's last message: a client paging by
// range-start asks for the next page with it while it reads this one.
// Stalwart sends no such header; mqsh's client then asks after reading.
const LastIDHeader = "Mqsh-Last-Id"
