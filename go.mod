module github.com/wsk-route/wsk-route

go 1.26
