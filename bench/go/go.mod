module gmpbench

go 1.22
