import OrbitCore
