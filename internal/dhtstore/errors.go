package dhtstore

import "errors"

// ErrBadLimits means a cap in Limits is zero or negative.
var ErrBadLimits = errors.New("invalid DHT store limits")

// ErrTooLarge is returned by Put for a record larger, on its own, than a
// byte cap: it cannot be stored whatever is evicted.
var ErrTooLarge = errors.New("DHT record larger than the store's cap")
