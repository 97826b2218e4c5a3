package fault

// SetRand replaces the source of inj's percentage draws (a number in
// [0, 1), safe for concurrent use), so that tests can hit exact shares.
func SetRand(inj *Injector, f func() float64) { inj.rand = f }
