//! Draws a [`TimeSeq`] (and a [`TraceSeries`]) as SVG with `plotters`: the time-sequence
//! graph on top (data segments as vertical bars, retransmissions crossed in red, the ACK
//! line in green, the window's right edge in olive, SACK blocks in purple, as tcptrace
//! colours them), then, with a trace, cwnd/ssthresh/in flight and SRTT/RTO over the same
//! time axis.

use super::{Cause, TimeSeq, TraceSeries};
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

fn legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
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
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(x, 0f64..y_max * 1.02)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("relative sequence number")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            steps(g.acks.iter().map(|a| (a.t_us, a.win_edge))),
            WINDOW.stroke_width(1),
        ))?
        .label("receive window right edge")
        .legend(legend(WINDOW));
    chart
        .draw_series(LineSeries::new(
            steps(g.acks.iter().map(|a| (a.t_us, a.ack))),
            ACK.stroke_width(1),
        ))?
        .label("ACK")
        .legend(legend(ACK));
    chart
        .draw_series(g.sacks.iter().map(|s| {
            let t = secs(s.t_us);
            PathElement::new(
                vec![(t, s.start as f64), (t, s.end as f64)],
                SACK.stroke_width(3),
            )
        }))?
        .label("SACK block")
        .legend(legend(SACK));
    chart
        .draw_series(g.data.iter().filter(|d| d.retrans.is_none()).map(|d| {
            let t = secs(d.t_us);
            PathElement::new(
                vec![(t, d.start as f64), (t, d.end as f64)],
                BLACK.stroke_width(1),
            )
        }))?
        .label("data")
        .legend(legend(BLACK));
    chart
        .draw_series(g.data.iter().filter(|d| d.retrans.is_some()).map(|d| {
            let t = secs(d.t_us);
            PathElement::new(
                vec![(t, d.start as f64), (t, d.end as f64)],
                RETRANS.stroke_width(2),
            )
        }))?
        .label("retransmission (F: after dup ACKs/SACK, T: timer, or the trace's timer)")
        .legend(legend(RETRANS));
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
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn windows(area: &Area<'_>, tr: &TraceSeries, x: std::ops::Range<f64>) -> DrawResult {
    let y_max = tr
        .points
        .iter()
        .map(|p| p.cwnd.max(p.in_flight).max(p.ssthresh.unwrap_or(0)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("sender state (from the trace)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(x, 0f64..y_max * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("bytes")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    let pts = |f: fn(&super::TracePoint) -> Option<u32>| {
        steps(
            tr.points
                .iter()
                .filter_map(move |p| Some((p.t_us, u64::from(f(p)?)))),
        )
    };
    chart
        .draw_series(LineSeries::new(pts(|p| Some(p.cwnd)), BLUE.stroke_width(2)))?
        .label("cwnd")
        .legend(legend(BLUE));
    chart
        .draw_series(LineSeries::new(
            pts(|p| p.ssthresh),
            RETRANS.stroke_width(1),
        ))?
        .label("ssthresh")
        .legend(legend(RETRANS));
    chart
        .draw_series(LineSeries::new(
            pts(|p| Some(p.in_flight)),
            ACK.stroke_width(1),
        ))?
        .label("in flight")
        .legend(legend(ACK));
    chart.draw_series(tr.timers.iter().map(|(t, name)| {
        EmptyElement::at((secs(*t), y_max))
            + Text::new(name.clone(), (2, 0), ("sans-serif", 11).into_font())
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
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
    let mut chart = ChartBuilder::on(area)
        .caption("RTT estimator (from the trace)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(x, 0f64..ms(y_max) * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("ms")
        .draw()?;
    let srtt: Vec<_> = tr
        .points
        .iter()
        .filter_map(|p| Some((secs(p.t_us), ms(p.srtt_us?))))
        .collect();
    chart
        .draw_series(LineSeries::new(srtt, BLUE.stroke_width(2)))?
        .label("SRTT")
        .legend(legend(BLUE));
    let rto = steps(tr.points.iter().map(|p| (p.t_us, p.rto_us)))
        .into_iter()
        .map(|(t, us)| (t, us / 1000.0));
    chart
        .draw_series(LineSeries::new(rto, RETRANS.stroke_width(1)))?
        .label("RTO")
        .legend(legend(RETRANS));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
