//! Compiles proto/ without a system protoc: protox parses the files into a descriptor set, which
//! feeds both code generation (tonic-prost-build) and server reflection (written to OUT_DIR).

use std::{env, fs, path::PathBuf};

use prost::Message;

fn proto_files(dir: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            proto_files(path.to_str().expect("utf-8 path"), out);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=proto");
    let mut files = Vec::new();
    proto_files("proto", &mut files);
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::Compiler::new(["proto"])
        .expect("protox compiler")
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)
        .expect("parse proto files")
        .file_descriptor_set();

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    fs::write(out_dir.join("patron_descriptor.bin"), fds.encode_to_vec())
        .expect("write descriptor set");

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Undecodable requests are INVALID_ARGUMENT, not prost's INTERNAL (src/grpc/codec.rs).
        .codec_path("crate::grpc::codec::Codec")
        .compile_fds(fds)
        .expect("generate gRPC code");
}
