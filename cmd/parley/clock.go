package main

import "time"

// clock is when "now" is for parley, and the zone it shows times in. The
// zero value is the system's clock and zone; tests fix both.
type clock struct {
	now func() time.Time
	loc *time.Location
}

// Now is the clock's time.
func (c clock) Now() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

func (c clock) zone() *time.Location {
	if c.loc == nil {
		return time.Local
	}
	return c.loc
}

// stamp renders t as a message line shows it, in the clock's zone: "15:04"
// if it is today there, else with its date, "2006-01-02 15:04".
func (c clock) stamp(t time.Time) string {
	t, now := t.In(c.zone()), c.Now().In(c.zone())
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}
