//go:build race

package gateway

// raceDetector is whether the tests run with the race detector, under
// which sync.Pool drops objects at random and allocation counts mean
// nothing.
const raceDetector = true
