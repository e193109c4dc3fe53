package pgqueue_test

import (
	"context"
	"testing"

	"mqsh/queue"
)

// BenchmarkShape draws qshape's grid of the whole million-message queue,
// by recipient domain and by sender domain:
//
//	go test ./pgqueue/ -run '^$' -bench 'Shape' -benchtime 5x -timeout 60m
func BenchmarkShape(b *testing.B) {
	q := benchQueue(b)
	for _, by := range []string{queue.ShapeDomain, queue.ShapeSenderDomain} {
		b.Run(by, func(b *testing.B) {
			for b.Loop() {
				s, err := q.Shape(context.Background(), queue.Filter{}, by)
				if err != nil {
					b.Fatal(err)
				}
				if s.Total.Count < 1_000_000 {
					b.Fatalf("grid counts %d", s.Total.Count)
				}
			}
		})
	}
}
