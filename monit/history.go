package monit

import "strings"

// historyLen is how many samples a sparkline shows: one per poll.
const historyLen = 30

// history keeps the last historyLen values of one measure of one instance.
type history struct {
	values []float64
}

// add appends v, forgetting the oldest beyond historyLen. It returns a new history: the
// model is a value, and an old copy must not see the change.
func (h history) add(v float64) history {
	out := make([]float64, 0, historyLen)
	if len(h.values) >= historyLen {
		out = append(out, h.values[len(h.values)-historyLen+1:]...)
	} else {
		out = append(out, h.values...)
	}
	return history{values: append(out, v)}
}

var bars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values in width cells, the newest on the right, scaled so that top (or
// the largest value, if larger) is a full bar; cells without a value are blank.
func sparkline(values []float64, width int, top float64) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(values)))
	for _, v := range values {
		i := 0
		if top > 0 && v > 0 {
			i = min(int(v/top*float64(len(bars)-1)+0.5), len(bars)-1)
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}
