package metrics

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// serveText answers in Prometheus's text exposition format.
func (c *Collector) serveText(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// wantsJSON reports whether an Accept header asks for JSON.
func wantsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return true
		}
	}
	return false
}

// Sample is one value of a metric in the JSON form.
type Sample struct {
	Labels map[string]string `json:"labels,omitempty"`
	// Value is a counter's or gauge's value.
	Value *float64 `json:"value,omitempty"`
	// Count, Sum and Buckets (upper bound to cumulative count) are a
	// histogram's.
	Count   *uint64           `json:"count,omitempty"`
	Sum     *float64          `json:"sum,omitempty"`
	Buckets map[string]uint64 `json:"buckets,omitempty"`
}

// Family is one metric in the JSON form.
type Family struct {
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Samples []Sample `json:"samples"`
}

// JSON returns every metric by name, with the figures of the text form.
func (c *Collector) JSON() (map[string]Family, error) {
	mfs, err := c.reg.Gather()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Family, len(mfs))
	for _, mf := range mfs {
		f := Family{Type: strings.ToLower(mf.GetType().String()), Help: mf.GetHelp(), Samples: []Sample{}}
		for _, m := range mf.GetMetric() {
			var s Sample
			if len(m.GetLabel()) > 0 {
				s.Labels = map[string]string{}
				for _, l := range m.GetLabel() {
					s.Labels[l.GetName()] = l.GetValue()
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.Value = finite(m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				s.Value = finite(m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				s.Value = finite(m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				n := h.GetSampleCount()
				s.Count, s.Sum = &n, finite(h.GetSampleSum())
				s.Buckets = map[string]uint64{}
				for _, b := range h.GetBucket() {
					s.Buckets[strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = b.GetCumulativeCount()
				}
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				n := sm.GetSampleCount()
				s.Count, s.Sum = &n, finite(sm.GetSampleSum())
			}
			f.Samples = append(f.Samples, s)
		}
		out[mf.GetName()] = f
	}
	return out, nil
}

// finite returns a pointer to v, or to 0 for a value JSON cannot hold.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return &v
}

// serveJSON answers the JSON form.
func (c *Collector) serveJSON(w http.ResponseWriter, r *http.Request) {
	m, err := c.JSON()
	if err != nil {
		http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body, err := json.Marshal(m)
	if err != nil {
		http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}
