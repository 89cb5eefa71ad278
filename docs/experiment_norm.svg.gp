set terminal svg size 1000,420 dynamic font 'Helvetica,12'
set output 'docs/experiment_norm.svg'
set datafile separator ','
set xlabel 'epoch'
set ylabel 'test accuracy'
set key bottom right
set title 'test accuracy per epoch: no normalisation, batch norm, layer norm'
plot 'docs/experiment_norm.svg.none.csv' using 2:5 every ::1 with linespoints lw 2 title 'no normalisation', 'docs/experiment_norm.svg.batch.csv' using 2:5 every ::1 with linespoints lw 2 title 'batch norm', 'docs/experiment_norm.svg.layer.csv' using 2:5 every ::1 with linespoints lw 2 dt 2 title 'layer norm'
