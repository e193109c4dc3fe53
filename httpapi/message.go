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

// messageJSON encodes m with its blob hash, reading its text through tx.
func messageJSON(tx queue.Txn, m *queue.Message) ([]byte, error) {
	raw, err := tx.Raw(m.ID)
	if err != nil {
		return nil, fmt.Errorf("read message %d: %w", uint64(m.ID), err)
	}
	return withBlobHash(m, raw)
}

// withBlobHash encodes m and adds the blob hash of raw as its last field.
func withBlobHash(m *queue.Message, raw []byte) ([]byte, error) {
	b, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("message %d: its JSON is not an object", uint64(m.ID))
	}
	sum := sha256.Sum256(raw)
	out := make([]byte, 0, len(b)+60)
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"blob_hash":"`...)
	out = base64.RawURLEncoding.AppendEncode(out, sum[:])
	out = append(out, `"}`...)
	return out, nil
}
