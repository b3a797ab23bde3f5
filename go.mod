module github.com/ganhost/ganhost

go 1.26

require (
	github.com/wamuir/graft v0.10.0
	google.golang.org/protobuf v1.36.12
)
