//! `sonic-kube`: see the library's documentation ([`sonic_kube`]).

fn main() -> std::process::ExitCode {
    sonic_kube::main()
}
