//! Diff two document files by hand: `cargo run --example docdiff -- A.json B.json [md]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let read = |p: &str| oc_conform_apidiff::Surface::from_json(&std::fs::read_to_string(p).expect("read")).expect("parse");
    let t = std::time::Instant::now();
    let side = |p: &str| oc_conform_apidiff::Side { label: p.into(), version: p.into(), document: Some(read(p)), observed: None };
    let r = oc_conform_apidiff::compare(&side(&args[1]), &side(&args[2]));
    eprintln!("took {:?}", t.elapsed());
    if args.get(3).is_some() { print!("{}", r.render_markdown()) } else { print!("{}", r.render_terminal(true)) }
}
