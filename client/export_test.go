package client

// SetContactsPerStream changes how many contacts one change stream
// follows, for a test; it returns the function that restores it.
func SetContactsPerStream(n int) (restore func()) {
	old := contactsPerStream
	contactsPerStream = n
	return func() { contactsPerStream = old }
}
