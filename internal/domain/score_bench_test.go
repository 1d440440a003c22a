package domain

import "testing"

// BenchmarkScore: what the score adds to a lookup of an IBAN with five
// reports (issue 29, goal 5): each counted report's weight and decay,
// then the score.
func BenchmarkScore(b *testing.B) {
	const now = int64(1_796_326_297_282)
	received := [5]int64{now, now - 86_400_000, now - 2*86_400_000, now - 30*86_400_000, now - 200*86_400_000}
	b.ReportAllocs()
	for b.Loop() {
		s := 0.0
		for n, r := range received {
			s += ScoreWeight(ReviewOpen, "", n%2) * Decay(r, now, DefaultHalfLifeDays)
		}
		if Score(s, false) <= 0 {
			b.Fatal(s)
		}
	}
}
