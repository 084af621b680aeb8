package main

// config is home/config.json as tests read and edit it (the agent owns
// the file: internal/agent's config).
type config struct {
	Node          string   `json:"node"`
	Witnesses     []string `json:"witnesses,omitempty"`
	ChainID       string   `json:"chain_id"`
	TrustHeight   int64    `json:"trust_height"`
	TrustHash     string   `json:"trust_hash"`
	TrustPeriod   string   `json:"trust_period,omitempty"`
	Name          string   `json:"name,omitempty"`
	Hub           string   `json:"hub,omitempty"`
	Notifications bool     `json:"notifications,omitempty"`
}
