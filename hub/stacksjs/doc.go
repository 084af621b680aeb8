// Package stacksjs runs the real Stacks.js storage client against the hub.
// It holds only a test: compat.mjs drives @stacks/storage 7.x (pinned in
// package.json and package-lock.json, installed with npm ci on first run)
// against a hub served on the disk driver.
//
// It must not be imported; it checks the hub's Gaia routes from the
// outside, as Stacks.js applications use them.
package stacksjs
