package forward_test

import (
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/policesim"
)

var drainN = flag.Int("drain", 0, "TestDrainBacklog: number of reports to queue and drain (0: skip)")

// TestDrainBacklog measures how fast a backlog drains after a police store
// outage: N reports are accepted while the store is down, then it comes
// back and the clock runs until the store holds all N. A measurement, not
// a check; run it as
//
//	go test ./internal/forward -run TestDrainBacklog -v -args -drain=100000
func TestDrainBacklog(t *testing.T) {
	if *drainN == 0 {
		t.Skip("measurement only: pass -drain N")
	}
	f := mustFixture(t)
	f.sim.SetFaults(policesim.Faults{Down: true})
	fill := time.Now()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < *drainN; i += 16 {
				f.accept(t, fmt.Sprint("drain-", i), fmt.Sprintf(`{"IBAN":"NL91ABNA0417164300","Category":"phishing","Reference":"r%d"}`, i))
			}
		})
	}
	wg.Wait()
	t.Logf("queued %d reports in %v", *drainN, time.Since(fill).Round(time.Millisecond))
	f.relay(t, forward.Config{Workers: 32, Batch: 64})
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	f.sim.SetFaults(policesim.Faults{})
	waitFor(t, "the backlog to drain", 30*time.Minute, func() bool { return f.sim.Stats().Unique == *drainN })
	d := time.Since(start)
	t.Logf("drained %d reports in %v: %.0f reports/s", *drainN, d.Round(time.Millisecond), float64(*drainN)/d.Seconds())
}
