package queue

import "testing"

// BenchmarkShape: summary --shape over the 1,000,000 messages of the
// benchmark queue (see benchQueue), by recipient domain and by sender
// domain. Target: under 1 s. cpu-ms/op is the process's CPU time per
// grid, which a machine shared with other work inflates less than ns/op.
func BenchmarkShape(b *testing.B) {
	q := benchQueue(b)
	for _, by := range []string{ShapeDomain, ShapeSenderDomain} {
		b.Run(by, func(b *testing.B) {
			c0 := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/float64(b.N), "cpu-ms/op") }()
			for b.Loop() {
				s, err := q.Shape(b.Context(), Filter{}, by)
				if err != nil {
					b.Fatal(err)
				}
				if s.Total.Count < benchN {
					b.Fatalf("%d messages in the grid", s.Total.Count)
				}
			}
		})
	}
}

// BenchmarkShapeOnePass: the path a queue of many small domains takes (and,
// by recipient domain, the filtered grid's GROUP BY without the filter), one
// pass over the same covering indexes with the ten bucket sums per row, on
// the same queue, for comparison with BenchmarkShape.
func BenchmarkShapeOnePass(b *testing.B) {
	q := benchQueue(b)
	for _, by := range []string{ShapeDomain, ShapeSenderDomain} {
		b.Run(by, func(b *testing.B) {
			c0 := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/float64(b.N), "cpu-ms/op") }()
			for b.Loop() {
				err := q.View(b.Context(), func(tx *Tx) error {
					s, err := tx.shapeQuery(by, tx.q.clock().Unix(), "", nil)
					if err == nil && s.Total.Count < benchN {
						b.Fatalf("%d messages in the grid", s.Total.Count)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
