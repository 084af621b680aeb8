package client

import "time"

// SetContactsPerStream changes how many contacts one change stream
// follows, for a test; it returns the function that restores it.
func SetContactsPerStream(n int) (restore func()) {
	old := contactsPerStream
	contactsPerStream = n
	return func() { contactsPerStream = old }
}

// SetPollFirst changes the first poll interval of a failed watch stream,
// for a test; it returns the function that restores it.
func SetPollFirst(d time.Duration) (restore func()) {
	old := pollFirst
	pollFirst = d
	return func() { pollFirst = old }
}

// SetMaintenance changes how often Watch does its periodic work and looks
// contacts up again, for a test; it returns the function that restores
// them.
func SetMaintenance(every, refresh time.Duration) (restore func()) {
	e, r := MaintenanceInterval, RecordRefresh
	MaintenanceInterval, RecordRefresh = every, refresh
	return func() { MaintenanceInterval, RecordRefresh = e, r }
}
