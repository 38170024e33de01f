//! The validator's web dashboard in a real browser: a devnet serves it, headless Chromium
//! (Debian's package; scripts/test.sh installs it) loads it once two epochs closed, and the
//! DOM it built shows the devnet's four miners with both cheaters at weight zero, a weights
//! chart whose points say the same, pass-rate, latency and verdict charts that drew, and a page
//! that polled again without a reload; the weights chart's box (as the page says where it drew
//! it) is not blank in a screenshot. Without Chromium the test says why it skips, unless
//! `ASSAY_REQUIRE_CHROMIUM=1` (scripts/test.sh sets it once Chromium is installed).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{assay, http_get, plugin};

/// Chromium, from `ASSAY_CHROMIUM` or `chromium` on the PATH; `None` when it does not run.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("ASSAY_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "chromium".into());
    let runs = Command::new(&path).arg("--version").output().is_ok_and(|o| o.status.success());
    runs.then_some(path)
}

/// A running devnet; interrupted (then killed) when dropped.
struct Devnet {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Devnet {
    /// Starts a devnet of four epochs and returns it with its dashboard's address.
    fn start(out: &Path) -> (Self, String) {
        let plugins = plugin("constantinople").parent().expect("the plugins folder").to_path_buf();
        let mut child = assay()
            .args(["devnet", "--epochs", "4", "--epoch-seconds", "8", "--synthetic-per-minute", "300"])
            .args(["--dashboard-addr", "127.0.0.1:0", "--out"])
            .arg(out)
            .arg("--plugins")
            .arg(&plugins)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts the devnet");
        let stderr = child.stderr.take().expect("piped");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        let kept = log.clone();
        // Drains the devnet's stderr (a full pipe would stop it), handing over the address.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("dashboard: http://").and_then(|l| l.strip_suffix('/')) {
                    let _ = found.send(addr.to_string());
                }
                let mut log = kept.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let devnet = Self { child, log };
        let addr = address.recv_timeout(Duration::from_secs(60));
        let addr = addr.unwrap_or_else(|_| panic!("the devnet printed no dashboard address:\n{}", devnet.log()));
        (devnet, addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the dashboard lists epoch `epoch` as closed.
fn wait_for_epoch(devnet: &Devnet, addr: &str, epoch: u64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let overview = http_get(addr, "/api/overview").and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok());
        if overview.is_some_and(|o| o["last_epoch"].as_u64().is_some_and(|e| e >= epoch)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("epoch {epoch} did not close in time:\n{}", devnet.log());
}

/// Chromium headless on `url` with `args` in a 1400x1000 window; its stdout.
fn browse(chromium: &Path, url: &str, args: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("60")
        .arg(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"])
        .args(["--window-size=1400,1000", "--force-device-scale-factor=1", "--hide-scrollbars"])
        .args(args)
        .arg(url)
        .output()
        .expect("runs chromium");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `(uid, weight)` of each row of the miners table (`<tr data-uid=".." data-weight="..">`).
fn miner_rows(dom: &str) -> Vec<(u16, String)> {
    dom.split("<tr data-uid=\"")
        .skip(1)
        .filter_map(|rest| {
            let (uid, rest) = rest.split_once('"')?;
            let weight = rest.strip_prefix(" data-weight=\"")?.split_once('"')?.0;
            Some((uid.parse().ok()?, weight.to_string()))
        })
        .collect()
}

/// The marks chart `id` drew (its svg's `data-points`).
fn chart_points(dom: &str, id: &str) -> usize {
    let (_, rest) = dom.split_once(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    let (_, rest) = rest.split_once("data-points=\"").unwrap_or_else(|| panic!("chart {id} drew nothing"));
    rest.split_once('"').and_then(|(n, _)| n.parse().ok()).expect("a count")
}

/// The part of the DOM inside chart `id` (up to the next chart).
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let (_, rest) = dom.split_once(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    rest.split_once("class=\"chart\"").map_or(rest, |(inside, _)| inside)
}

/// The value of attribute `name` in `text` from its first occurrence.
fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split_once(&format!(" {name}=\"")).and_then(|(_, rest)| rest.split_once('"')).map(|(v, _)| v)
}

/// `(key, x, y)` of each point chart `id` drew (its circles' `data-key`, `data-x`, `data-y`).
fn chart_values(dom: &str, id: &str) -> Vec<(String, f64, f64)> {
    chart(dom, id)
        .split("<circle ")
        .skip(1)
        .filter_map(|c| {
            let c = c.split_once('>')?.0;
            let number = |name| attribute(c, name)?.parse::<f64>().ok();
            Some((attribute(c, "data-key")?.to_string(), number("data-x")?, number("data-y")?))
        })
        .collect()
}

/// Where chart `id` lies on the page, as the page wrote it (`data-box`: x, y, width, height).
fn chart_box(dom: &str, id: &str) -> (u32, u32, u32, u32) {
    let text = attribute(chart(dom, id), "data-box").unwrap_or_else(|| panic!("chart {id} says not where it is"));
    let n: Vec<u32> = text.split(',').filter_map(|v| v.parse().ok()).collect();
    assert!(n.len() == 4 && n[2] > 100 && n[3] > 50, "chart {id}'s box: {text}");
    (n[0], n[1], n[0] + n[2], n[1] + n[3])
}

/// Coloured (saturated) pixels and their distinct colours in a region of an RGB(A) PNG.
fn coloured_pixels(png_path: &Path, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> (usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).expect("a screenshot")));
    let mut reader = decoder.read_info().expect("a png");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3 && info.bit_depth == png::BitDepth::Eight, "{:?} {:?}", info.color_type, info.bit_depth);
    let (mut coloured, mut colours) = (0, std::collections::BTreeSet::new());
    for y in y0..y1.min(info.height) {
        for x in x0..x1.min(info.width) {
            let at = (y as usize * info.width as usize + x as usize) * channels;
            let (r, g, b) = (pixels[at], pixels[at + 1], pixels[at + 2]);
            if r.max(g).max(b) - r.min(g).min(b) > 60 {
                coloured += 1;
                colours.insert((r >> 4, g >> 4, b >> 4));
            }
        }
    }
    (coloured, colours.len())
}

#[test]
fn the_dashboard_of_a_devnet_shows_its_miners_and_charts_in_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("ASSAY_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "ASSAY_REQUIRE_CHROMIUM is set but no chromium runs"
        );
        eprintln!(
            "skipped: no chromium (apt-get install chromium, or set ASSAY_CHROMIUM); scripts/test.sh installs it"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (devnet, addr) = Devnet::start(&dir.path().join("devnet"));
    wait_for_epoch(&devnet, &addr, 1);
    let url = format!("http://{addr}/");

    let dom = browse(&chromium, &url, &["--dump-dom"]);
    let rows = miner_rows(&dom);
    let uids: Vec<u16> = rows.iter().map(|(uid, _)| *uid).collect();
    assert_eq!(uids, [0, 1, 2, 3], "the devnet's four miners: {rows:?}\n{dom}");
    assert_eq!((rows[2].1.as_str(), rows[3].1.as_str()), ("0", "0"), "both cheaters at weight zero: {rows:?}");
    assert!(rows[0].1.parse::<u32>().is_ok_and(|w| w > 0), "the fast honest miner has weight: {rows:?}");
    // Two closed epochs, four miners: at least eight points per line chart.
    assert!(chart_points(&dom, "chart-weights") >= 8, "{dom}");
    assert!(chart_points(&dom, "chart-verdicts") >= 2, "{dom}");
    assert!(chart_points(&dom, "chart-passrate") >= 1, "the pass-rate chart drew: {dom}");
    assert!(chart_points(&dom, "chart-latency") >= 1, "the latency chart drew: {dom}");
    // The weights chart's points: the cheaters' shares zero in every epoch, the fast honest
    // miner's not zero in the newest.
    let weights = chart_values(&dom, "chart-weights");
    let of = |uid: &str| weights.iter().filter(|(k, _, _)| k == uid).map(|&(_, x, y)| (x, y)).collect::<Vec<_>>();
    for cheater in ["2", "3"] {
        assert!(!of(cheater).is_empty() && of(cheater).iter().all(|&(_, y)| y == 0.0), "uid {cheater}: {weights:?}");
    }
    let newest = weights.iter().map(|&(_, x, _)| x).fold(f64::MIN, f64::max);
    assert!(of("0").iter().any(|&(x, y)| x == newest && y > 0.0), "uid 0 weighted: {weights:?}");
    let shares: f64 = weights.iter().filter(|&&(_, x, _)| x == newest).map(|&(_, _, y)| y).sum();
    assert!((shares - 100.0).abs() < 0.01, "the newest epoch's shares sum to 100%: {weights:?}");
    // Polled again (every two seconds) without a reload.
    let polls = attribute(dom.split_once("<body").expect("a body").1, "data-polls").and_then(|n| n.parse::<u32>().ok());
    assert!(polls.is_some_and(|n| n >= 2), "the page polls on its own: {polls:?}");
    let weights_box = chart_box(&dom, "chart-weights");
    assert!(dom.contains("href=\"/api/summaries/1\""), "the epochs link their summaries");
    let summary = http_get(&addr, "/api/summaries/1").expect("the linked summary is served");
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("a summary");
    assert_eq!(summary["epoch"], 1, "{summary}");

    let shot = dir.path().join("dashboard.png");
    browse(&chromium, &url, &[&format!("--screenshot={}", shot.display())]);
    // The weights chart, where the page said it drew it (the same window size).
    let (coloured, colours) = coloured_pixels(&shot, weights_box);
    assert!(coloured > 500 && colours >= 3, "the chart area is blank: {coloured} coloured pixels, {colours} colours");
    if let Some(keep) = std::env::var_os("ASSAY_DASHBOARD_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("keeps the screenshot");
    }
    drop(devnet);
}
