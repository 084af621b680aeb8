package client

import (
	"fmt"
	"slices"
	"testing"
)

// TestSplitByWeight: a watch's contacts are cut into streams by the
// follows they take, so contacts with several devices never push a stream
// past the hub's limit; one contact heavier than a stream gets one alone,
// and the user's own hubs' first stream keeps room for the user's follows.
func TestSplitByWeight(t *testing.T) {
	w := map[string]int{"a": 3, "b": 7, "c": 3, "d": 11, "e": 3}
	weight := func(n string) int { return w[n] }
	names := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		budget, reserve int
		want            [][]string
	}{
		{budget: 100, want: [][]string{{"a", "b", "c", "d", "e"}}},
		{budget: 10, want: [][]string{{"a", "b"}, {"c"}, {"d"}, {"e"}}},
		{budget: 10, reserve: 6, want: [][]string{{"a"}, {"b", "c"}, {"d"}, {"e"}}},
		{budget: 3, reserve: 4, want: [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}},
	} {
		t.Run(fmt.Sprintf("budget %d reserve %d", tc.budget, tc.reserve), func(t *testing.T) {
			got := splitByWeight(names, weight, tc.budget, tc.reserve)
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i, part := range got {
				sum := 0
				for _, n := range part {
					sum += weight(n)
				}
				if i == 0 {
					sum += tc.reserve
				}
				if sum > tc.budget && len(part) > 1 {
					t.Fatalf("part %d %q takes %d follows, over %d", i, part, sum, tc.budget)
				}
			}
		})
	}
	if got := splitByWeight(nil, weight, 10, 2); len(got) != 1 || len(got[0]) != 0 {
		t.Fatalf("no names: %q, want one empty part (the inbox's stream)", got)
	}
}
