package host

import "context"

// Chain runs filters in order, like the edge's default chain (sigcheck first, then
// partner filters). It is safe for concurrent use.
type Chain struct {
	filters []*Filter
}

// NewChain returns a chain of filters, run in the given order.
func NewChain(filters ...*Filter) *Chain {
	return &Chain{filters: append([]*Filter(nil), filters...)}
}

// Filters returns the chain's filters in order.
func (ch *Chain) Filters() []*Filter { return append([]*Filter(nil), ch.filters...) }

// Run runs the filters on c in order and merges their verdicts:
//   - the first Reject ends the chain and is the result (with the labels so far);
//   - otherwise the result is Flag if any filter flagged, with the highest score and
//     that flag's reason (the first one on ties), else Accept;
//   - labels are concatenated in filter order; a key already present is dropped.
//
// A failing filter contributes its policy verdict (fail-open Accept or fail-closed
// Reject), so a fail-closed failure stops the chain. The error is the first
// filter's error, if any; the chain still returns a usable verdict with it.
// It allocates only when filters add labels.
func (ch *Chain) Run(ctx context.Context, c *Click) (Verdict, error) {
	var out Verdict
	var first error
	for _, f := range ch.filters {
		v, err := f.Run(ctx, c)
		if err != nil && first == nil {
			first = err
		}
		out.Labels = mergeLabels(out.Labels, v.Labels)
		switch v.Action {
		case Reject:
			out.Action, out.Reason, out.Score = Reject, v.Reason, 0
			return out, first
		case Flag:
			if out.Action != Flag || v.Score > out.Score {
				out.Action, out.Reason, out.Score = Flag, v.Reason, v.Score
			}
		}
	}
	return out, first
}

func mergeLabels(dst, src []Label) []Label {
	if len(dst) == 0 {
		return src
	}
next:
	for _, l := range src {
		for _, d := range dst {
			if d.Key == l.Key {
				continue next
			}
		}
		dst = append(dst, l)
	}
	return dst
}
