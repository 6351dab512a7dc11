package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

func poolDesc(name, help string, kind prometheus.ValueType) poolMetric {
	return poolMetric{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db_pool", name), help, nil, nil), kind}
}

type poolMetric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

var (
	poolAcquired      = poolDesc("acquired_connections", "Connections in use.", prometheus.GaugeValue)
	poolIdle          = poolDesc("idle_connections", "Connections open and idle.", prometheus.GaugeValue)
	poolTotal         = poolDesc("connections", "Connections open, in use or idle or being opened.", prometheus.GaugeValue)
	poolMax           = poolDesc("max_connections", "Most connections the pool opens.", prometheus.GaugeValue)
	poolAcquires      = poolDesc("acquires_total", "Connections taken from the pool.", prometheus.CounterValue)
	poolEmptyAcquires = poolDesc("empty_acquires_total", "Acquires that found no idle connection and waited for one.", prometheus.CounterValue)
	poolCanceled      = poolDesc("canceled_acquires_total", "Acquires given up before a connection was free.", prometheus.CounterValue)
	poolWait          = poolDesc("acquire_wait_seconds_total", "Time acquires spent waiting for a connection.", prometheus.CounterValue)
	poolNew           = poolDesc("new_connections_total", "Connections opened.", prometheus.CounterValue)
)

// poolCollector reports pgxpool's statistics: a pool that is always empty
// (empty_acquires_total climbing with acquire_wait_seconds_total) is too small for the
// process's consumers and requests.
type poolCollector struct{ pool *pgxpool.Pool }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range []poolMetric{poolAcquired, poolIdle, poolTotal, poolMax, poolAcquires, poolEmptyAcquires, poolCanceled, poolWait, poolNew} {
		ch <- m.desc
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	send := func(m poolMetric, v float64) { ch <- prometheus.MustNewConstMetric(m.desc, m.kind, v) }
	send(poolAcquired, float64(s.AcquiredConns()))
	send(poolIdle, float64(s.IdleConns()))
	send(poolTotal, float64(s.TotalConns()))
	send(poolMax, float64(s.MaxConns()))
	send(poolAcquires, float64(s.AcquireCount()))
	send(poolEmptyAcquires, float64(s.EmptyAcquireCount()))
	send(poolCanceled, float64(s.CanceledAcquireCount()))
	send(poolWait, s.AcquireDuration().Seconds())
	send(poolNew, float64(s.NewConnsCount()))
}
