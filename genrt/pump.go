package genrt

import "io"

// Pump sends what next returns until it returns io.EOF (then it closes
// the sending side) or another error (then it abandons the call and
// returns the error). A failed Send ends it too: the call is over, and
// the receiving side reports how.
func Pump[T any](st interface {
	Send(T) error
	CloseSend() error
	Close()
}, next func() (T, error)) error {
	for {
		v, err := next()
		if err == io.EOF {
			_ = st.CloseSend()
			return nil
		}
		if err != nil {
			st.Close()
			return err
		}
		if err = st.Send(v); err == io.EOF {
			return nil
		} else if err != nil {
			st.Close()
			return err
		}
	}
}
