module gtoken.io/testnode/pause

go 1.22
