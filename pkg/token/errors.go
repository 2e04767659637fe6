package token

import "errors"

// Errors returned by Parse and Sign. They are safe to show to the client.
var (
	ErrEmpty    = errors.New("token is empty")
	ErrTooLong  = errors.New("token is too long")
	ErrEncoding = errors.New("token is not base64url")
	ErrShort    = errors.New("token is too short")
	ErrVersion  = errors.New("token version is not supported")
	ErrAdID     = errors.New("token ad id is malformed")
	ErrUserID   = errors.New("token user id is malformed")
	ErrExpiry   = errors.New("token expiry is out of range")
)
