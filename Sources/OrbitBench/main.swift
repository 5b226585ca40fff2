import OrbitCLI

// The commands live in the OrbitCLI library (tests run them in-process).
OrbitBenchCLI.main()
