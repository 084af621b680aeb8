package bns

import (
	"fmt"
	"net/url"
)

// ValidateHubURL accepts an absolute http or https URL of at most
// MaxHubURLLen bytes with a host, without user info, query or fragment, in
// the form url.Parse gives back unchanged.
func ValidateHubURL(s string) error {
	if len(s) > MaxHubURLLen {
		return fmt.Errorf("hub URL of %d bytes, at most %d", len(s), MaxHubURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("hub URL %q: %v", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("hub URL %q: scheme must be http or https", s)
	case u.Host == "":
		return fmt.Errorf("hub URL %q: no host", s)
	case u.User != nil, u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return fmt.Errorf("hub URL %q: user info, query and fragment are not allowed", s)
	case u.String() != s:
		return fmt.Errorf("hub URL %q is not in canonical form %q", s, u.String())
	}
	return nil
}
