//! Draws a [`TimeSeq`] (and a [`TraceSeries`]) as SVG with `plotters`: the time-sequence
//! graph on top (data segments as vertical bars, retransmissions crossed in red, the ACK
//! line in green, the window's right edge in olive, SACK blocks in purple, as tcptrace
//! colours them), then, with a trace, cwnd/ssthresh/in flight and SRTT/RTO over the same
//! time axis.

use super::{Cause, TimeSeq, TraceSeries};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const WIDTH: u32 = 1200;
const SEQ_HEIGHT: u32 = 620;
const PANEL_HEIGHT: u32 = 300;

const ACK: RGBColor = RGBColor(0, 150, 0);
const WINDOW: RGBColor = RGBColor(170, 150, 0);
const SACK: RGBColor = RGBColor(150, 0, 170);
const RETRANS: RGBColor = RGBColor(220, 0, 0);

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// A step line through `(t, y)` points: each value holds until the next point.
pub fn steps(points: impl IntoIterator<Item = (u64, u64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (t, y) in points {
        let (t, y) = (secs(t), y as f64);
        if let Some(&(_, prev)) = out.last() {
            out.push((t, prev));
        }
        out.push((t, y));
    }
    out
}

/// The SVG document.
pub fn svg(g: &TimeSeq, trace: Option<&TraceSeries>) -> Result<String, String> {
    let mut out = String::new();
    let height = SEQ_HEIGHT + trace.map_or(0, |_| 2 * PANEL_HEIGHT);
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, rest) = root.split_vertically(SEQ_HEIGHT);
        let t_end = [
            g.data.last().map(|d| d.t_us),
            g.acks.last().map(|a| a.t_us),
            trace.and_then(|t| t.points.last().map(|p| p.t_us)),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        let x = 0f64..secs(t_end).max(0.001) * 1.02;
        time_sequence(&top, g, x.clone()).map_err(|e| e.to_string())?;
        if let Some(tr) = trace {
            let (mid, bottom) = rest.split_vertically(PANEL_HEIGHT);
            windows(&mid, tr, x.clone()).map_err(|e| e.to_string())?;
            rtt(&bottom, tr, x).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error + 'static>>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
}

/// A panel over the shared time axis `x`, values 0..`y_top`, with its caption and mesh;
/// `whole` labels the y axis with whole numbers.
fn panel<'a, 'b>(
    area: &'a Area<'b>,
    (caption, font_size): (&str, u32),
    x: std::ops::Range<f64>,
    y_top: f64,
    (y_desc, whole): (&str, bool),
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error + 'static>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", font_size))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(x, 0f64..y_top)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("time (s)").y_desc(y_desc);
    if whole {
        mesh.y_label_formatter(&|v| format!("{v:.0}"));
    }
    mesh.draw()?;
    Ok(chart)
}

/// A labelled line through `points`.
fn line(
    chart: &mut Chart<'_, '_>,
    points: impl IntoIterator<Item = (f64, f64)>,
    (color, width): (RGBColor, u32),
    label: &str,
) -> DrawResult {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(width)))?
        .label(label)
        .legend(legend(color));
    Ok(())
}

/// Labelled vertical bars: `(t_us, from, to)` each.
fn bars(
    chart: &mut Chart<'_, '_>,
    spans: impl Iterator<Item = (u64, u64, u64)>,
    (color, width): (RGBColor, u32),
    label: &str,
) -> DrawResult {
    chart
        .draw_series(spans.map(|(t, from, to)| {
            let t = secs(t);
            PathElement::new(
                vec![(t, from as f64), (t, to as f64)],
                color.stroke_width(width),
            )
        }))?
        .label(label)
        .legend(legend(color));
    Ok(())
}

/// The box of series labels at `at`.
fn label_box<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, at: SeriesLabelPosition) -> DrawResult {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn time_sequence(area: &Area<'_>, g: &TimeSeq, x: std::ops::Range<f64>) -> DrawResult {
    let y_max = [
        g.data.iter().map(|d| d.end).max(),
        g.acks.iter().map(|a| a.win_edge).max(),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(1)
    .max(1) as f64;
    let retrans = g.data.iter().filter(|d| d.retrans.is_some()).count();
    let caption = format!(
        "{} > {}: {} data segments, {} retransmitted",
        g.sender,
        g.receiver,
        g.data.len(),
        retrans
    );
    let y = ("relative sequence number", true);
    let mut chart = panel(area, (&caption, 18), x, y_max * 1.02, y)?;
    let acks = |f: fn(&super::AckPoint) -> u64| steps(g.acks.iter().map(move |a| (a.t_us, f(a))));
    let edge = acks(|a| a.win_edge);
    line(&mut chart, edge, (WINDOW, 1), "receive window right edge")?;
    line(&mut chart, acks(|a| a.ack), (ACK, 1), "ACK")?;
    let sacks = g.sacks.iter().map(|s| (s.t_us, s.start, s.end));
    bars(&mut chart, sacks, (SACK, 3), "SACK block")?;
    let data = |retrans: bool| {
        g.data
            .iter()
            .filter(move |d| d.retrans.is_some() == retrans)
            .map(|d| (d.t_us, d.start, d.end))
    };
    bars(&mut chart, data(false), (BLACK, 1), "data")?;
    let label = "retransmission (F: after dup ACKs/SACK, T: timer, or the trace's timer)";
    bars(&mut chart, data(true), (RETRANS, 2), label)?;
    chart.draw_series(g.data.iter().filter_map(|d| {
        let mark = match d.retrans.as_ref()? {
            Cause::Dupacks { .. } => "F".to_string(),
            Cause::Timer(None) => "T".to_string(),
            Cause::Timer(Some(n)) => n.to_uppercase(),
        };
        let at = (secs(d.t_us), d.end as f64);
        Some(
            EmptyElement::at(at)
                + Cross::new((0, 0), 4, RETRANS.stroke_width(2))
                + Text::new(
                    mark,
                    (5, -14),
                    ("sans-serif", 12).into_font().color(&RETRANS),
                ),
        )
    }))?;
    label_box(&mut chart, SeriesLabelPosition::UpperLeft)
}

fn windows(area: &Area<'_>, tr: &TraceSeries, x: std::ops::Range<f64>) -> DrawResult {
    let y_max = tr
        .points
        .iter()
        .map(|p| p.cwnd.max(p.in_flight).max(p.ssthresh.unwrap_or(0)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let caption = ("sender state (from the trace)", 16);
    let mut chart = panel(area, caption, x, y_max * 1.05, ("bytes", true))?;
    let pts = |f: fn(&super::TracePoint) -> Option<u32>| {
        steps(
            tr.points
                .iter()
                .filter_map(move |p| Some((p.t_us, u64::from(f(p)?)))),
        )
    };
    line(&mut chart, pts(|p| Some(p.cwnd)), (BLUE, 2), "cwnd")?;
    line(&mut chart, pts(|p| p.ssthresh), (RETRANS, 1), "ssthresh")?;
    line(
        &mut chart,
        pts(|p| Some(p.in_flight)),
        (ACK, 1),
        "in flight",
    )?;
    chart.draw_series(tr.timers.iter().map(|(t, name)| {
        EmptyElement::at((secs(*t), y_max))
            + Text::new(name.clone(), (2, 0), ("sans-serif", 11).into_font())
    }))?;
    label_box(&mut chart, SeriesLabelPosition::UpperRight)
}

fn rtt(area: &Area<'_>, tr: &TraceSeries, x: std::ops::Range<f64>) -> DrawResult {
    let ms = |us: u64| us as f64 / 1000.0;
    let y_max = tr
        .points
        .iter()
        .map(|p| p.rto_us.max(p.srtt_us.unwrap_or(0)))
        .max()
        .unwrap_or(1)
        .max(1);
    let caption = ("RTT estimator (from the trace)", 16);
    let mut chart = panel(area, caption, x, ms(y_max) * 1.05, ("ms", false))?;
    let srtt = tr
        .points
        .iter()
        .filter_map(|p| Some((secs(p.t_us), ms(p.srtt_us?))));
    line(&mut chart, srtt, (BLUE, 2), "SRTT")?;
    let rto = steps(tr.points.iter().map(|p| (p.t_us, p.rto_us)))
        .into_iter()
        .map(|(t, us)| (t, us / 1000.0));
    line(&mut chart, rto, (RETRANS, 1), "RTO")?;
    label_box(&mut chart, SeriesLabelPosition::UpperRight)
}
