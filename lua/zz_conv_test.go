package lua

import (
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
	"mqsh/queue"
)

func BenchmarkZZMessageTable(b *testing.B) {
	L := glua.NewState()
	m := &queue.Message{ID: 0x3056D4599D33FFC, ReturnPath: "bill@example.net", Created: time.Now(), Size: 1234,
		Domains: []queue.Domain{{Name: "gmail.com", Status: queue.TempFail, Details: "x", RetryNum: 2, Due: time.Now(), Expires: time.Now(),
			Recipients: []queue.Recipient{{Address: "a@gmail.com", Status: queue.TempFail, Code: 421, Enhanced: "4.7.0", Message: "slow down"}}}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		messageTable(L, m)
	}
}
