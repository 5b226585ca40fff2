#!/usr/bin/env bash
# Generates the Swift code of Protos/etcd/*.proto into Sources/EtcdEngine/Generated/ (messages:
# protoc-gen-swift from apple/swift-protobuf; client stubs: protoc-gen-grpc-swift-2 from
# grpc/grpc-swift-protobuf, both at the versions Package.swift names). Run it by hand after editing
# a .proto and commit the result: the build and CI never run protoc.
#
# Needs protoc (Debian's protobuf-compiler). The two plugins are built once, in debug, from the
# package copies SwiftPM fetches, under $ORBIT_PROTO_TOOLS (default /tmp/orbit-proto-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 2; }
tools=${ORBIT_PROTO_TOOLS:-/tmp/orbit-proto-tools}
if [ ! -x "$tools/.build/debug/protoc-gen-grpc-swift-2" ] || [ ! -x "$tools/.build/debug/protoc-gen-swift" ]; then
  rm -rf "$tools"
  git clone -q https://github.com/grpc/grpc-swift-protobuf "$tools"
  git -C "$tools" checkout -q 2.4.1
  (cd "$tools" && swift build --product protoc-gen-grpc-swift-2 && swift build --product protoc-gen-swift)
fi
out=Sources/EtcdEngine/Generated
mkdir -p "$out"
rm -f "$out"/*.swift
protoc --proto_path=Protos/etcd \
  --plugin=protoc-gen-swift="$tools/.build/debug/protoc-gen-swift" \
  --swift_out="$out" --swift_opt=Visibility=Internal \
  Protos/etcd/kv.proto Protos/etcd/rpc.proto
# Services are in rpc.proto only.
protoc --proto_path=Protos/etcd \
  --plugin=protoc-gen-grpc-swift="$tools/.build/debug/protoc-gen-grpc-swift-2" \
  --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Internal,Server=false,Client=true \
  Protos/etcd/rpc.proto
ls -l "$out"
